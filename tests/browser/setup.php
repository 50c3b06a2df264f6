<?php
// The CRM side of the browser test: import and start the sign-in, then send the link mails.
//   php setup.php start            => {"mailbox", "authorize_url"}
//   php setup.php send MAILBOX JSON => {"download", "agreement", "big"} (tokens)
// Config from env O365_EXAMPLE_CONFIG, like the web example.

declare(strict_types=1);

require __DIR__ . '/../../bindings/php/autoload.php';

$config = json_decode((string) file_get_contents((string) getenv('O365_EXAMPLE_CONFIG')), true, 64,
    JSON_THROW_ON_ERROR);
$o365 = new O365\Client($config);

if ($argv[1] === 'start') {
    $box = $o365->importMailbox(['address' => 'anna.schmidt@contoso.example', 'users' => ['u1'], 'main_user' => 'u1']);
    $start = $o365->authenticate(['mailbox' => $box['id'], 'user' => 'u1']);
    echo json_encode(['mailbox' => $box['id'], 'authorize_url' => $start['authorize_url']]), "\n";
    exit(0);
}

// send MAILBOX FILES_JSON: FILES_JSON = {"expose": path, "plan": path, "contract": path, "big": path}
$mailbox = $argv[2];
$files = json_decode($argv[3], true, 8, JSON_THROW_ON_ERROR);
$send = function (string $subject, string $body, array $attachments, ?string $agreement = null) use ($o365, $mailbox): string {
    $req = ['mailbox' => $mailbox, 'user' => 'u1', 'message' => [
        'to' => ['kunde@kunden.example'], 'subject' => $subject, 'body_html' => "<p>$body</p>",
        'attachments' => $attachments]];
    if ($agreement !== null) {
        $req['agreement_text'] = $agreement;
    }
    $r = $o365->send($req);
    if ($r['state'] !== 'sent') {
        throw new RuntimeException('not sent: ' . json_encode($r));
    }
    return $r['link']['token'];
};
echo json_encode([
    'download' => $send('Ihr Exposé: 3-Zimmer-Wohnung Lindenstraße 5', 'Hier das _downloadLink(Exposé) zur Wohnung.', [
        ['name' => 'Exposé Lindenstraße 5.pdf', 'path' => $files['expose']],
        ['name' => 'Grundriss.png', 'path' => $files['plan']]]),
    'agreement' => $send('Unterlagen zum Objekt Lindenstraße 5', 'Bitte: _agreementLink(Unterlagen ansehen)', [
        ['name' => 'Objektunterlagen.pdf', 'path' => $files['contract']]],
        "Ich verpflichte mich, die mir überlassenen Objektunterlagen vertraulich zu behandeln und nicht an Dritte weiterzugeben.\n\nBei Zustandekommen eines Kaufvertrags über das nachgewiesene Objekt zahle ich die vereinbarte Provision."),
    'big' => $send('Drohnenvideo Lindenstraße 5', 'Das Video: _downloadLink(Video herunterladen)', [
        ['name' => 'Drohnenflug.mp4', 'path' => $files['big']]]),
]), "\n";
