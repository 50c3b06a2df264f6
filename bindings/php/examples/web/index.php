<?php
// The two routes a CRM's web server needs for o365, as a router for PHP's built-in server:
//
//   O365_EXAMPLE_CONFIG=/path/config.json php -d ffi.enable=1 -S 127.0.0.1:8080 index.php
//
// /o365/callback  the Microsoft sign-in comes back here (app.redirect_uri)
// /o365/link      the page behind _downloadLink(Text) / _agreementLink (links.base_url =
//                 "https://crm.example/o365/link?t={token}")
// See README.md in this folder.

declare(strict_types=1);

require __DIR__ . '/../../autoload.php';

$config = json_decode((string) file_get_contents((string) getenv('O365_EXAMPLE_CONFIG')), true, 64,
    JSON_THROW_ON_ERROR);
$o365 = new O365\Client($config);   // the library from env O365_LIB, else libo365.so
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);

if ($path === '/o365/callback') {
    // Complete the sign-in that o365_authenticate started (any process may complete it).
    $scheme = (($_SERVER['HTTPS'] ?? '') === 'on') ? 'https' : 'http';
    try {
        $done = $o365->authenticate(['callback_url' => "$scheme://{$_SERVER['HTTP_HOST']}{$_SERVER['REQUEST_URI']}"]);
        header('Content-Type: text/plain; charset=utf-8');
        echo 'Signed in: ', $done['account']['address'] ?? '', "\n";
    } catch (O365\Exception $e) {
        http_response_code(400);
        header('Content-Type: text/plain; charset=utf-8');
        echo 'Sign-in failed: ', $e->getErrorKind(), ': ', $e->getMessage(), "\n";
    }
} elseif ($path === '/o365/link') {
    // The whole link page: HTML, the accept step, and files streamed in 1 MiB pieces.
    $answer = $o365->serveLink();
    if (($stats = getenv('O365_EXAMPLE_STATS')) !== false && $stats !== '') {
        // for the browser test: how much memory this request needed at most
        file_put_contents($stats, json_encode(['status' => $answer['status'],
            'streamed' => $answer['stream']['length'] ?? 0, 'peak' => memory_get_peak_usage(true)]) . "\n",
            FILE_APPEND | LOCK_EX);
    }
} else {
    http_response_code(404);
    header('Content-Type: text/plain; charset=utf-8');
    echo "not found\n";
}
