<?php
/**
 * Example CRM worker: books mail sent from Outlook as activities.
 *
 *   php -d ffi.enable=1 activity_worker.php /var/lib/crm/o365.db
 *
 * Runs the library's background scheduler (it syncs Sent Items), and books each activity
 * ("E-Mail – Ausgang", marker "Externer E-Mail-Versand", the mailbox's main user responsible)
 * into the CRM. Replace book() with the CRM's own code.
 */

declare(strict_types=1);

require __DIR__ . '/../autoload.php';

$store = $argv[1] ?? '/var/lib/crm/o365.db';
$client = new O365\Client([
    'store' => $store,
    'sync' => ['scheduler' => true],
], getenv('O365_LIB') ?: null);

function book(array $activity): void
{
    // INSERT INTO activities (id, type, marker, responsible, subject, sent_at, ...) VALUES (...)
    // ON CONFLICT (id) DO NOTHING   -- the event id is stable: booking twice is harmless
    printf(
        "%s  %s / %s  responsible: %s  subject: %s  to: %s\n",
        $activity['sent_at'],
        $activity['activity_type'],
        $activity['marker'],
        $activity['responsible_user'],
        $activity['subject'],
        implode(', ', array_map(fn ($r) => $r['address'], $activity['to']))
    );
}

$worker = new O365\ActivityWorker($client, 'book', function (array $event): void {
    if ($event['type'] === 'reauth_required') {
        fprintf(STDERR, "mailbox %s needs a new Microsoft sign-in\n", $event['address']);
    }
});
while (true) {
    $worker->run(5000);
}
