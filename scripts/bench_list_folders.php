<?php
// Warm o365_list_folders from PHP (FFI) next to PHP's own json_decode of the same JSON.
// Run by examples/bench_sync.rs: php bench_list_folders.php LIB CONFIG_JSON MAILBOX CALLS
// Prints one JSON line with medians and p99s in microseconds.
declare(strict_types=1);
require __DIR__ . '/../bindings/php/autoload.php';

[, $lib, $configJson, $mailbox, $calls] = $argv;
$calls = (int) $calls;
$o365 = new O365\Client(json_decode($configJson, true, 512, JSON_THROW_ON_ERROR), $lib);
$req = ['mailbox' => $mailbox, 'user' => 'u1', 'max_age_ms' => 3600000];
$reqJson = json_encode($req);

function timed(int $n, callable $f): array
{
    for ($i = 0; $i < min(200, $n); $i++) {
        $f();
    }
    $t = [];
    for ($i = 0; $i < $n; $i++) {
        $s = hrtime(true);
        $f();
        $t[] = (hrtime(true) - $s) / 1000.0;
    }
    sort($t);
    return ['median_us' => round($t[intdiv($n, 2)], 2), 'p99_us' => round($t[intdiv($n * 99, 100)], 2)];
}

$json = $o365->callJson('list_folders', $reqJson);
$decoded = timed($calls, fn () => json_decode($json, true));
$call = timed($calls, fn () => $o365->listFolders($req));
$raw = timed($calls, fn () => $o365->callJson('list_folders', $reqJson));
echo json_encode([
    'bytes' => strlen($json),
    'folders' => count(json_decode($json, true)['folders']),
    'json_decode' => $decoded,
    'list_folders' => $call,
    'list_folders_raw' => $raw,
    'ratio' => round($call['median_us'] / max($decoded['median_us'], 0.001), 2),
    'ratio_raw' => round($raw['median_us'] / max($decoded['median_us'], 0.001), 2),
]), "\n";
