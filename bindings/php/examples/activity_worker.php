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
    'log' => ['level' => 'info', 'buffer' => 1000],
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

// Takes only `activity` events; the others stay queued for the workers that handle them.
$worker = new O365\ActivityWorker($client, 'book');
$logs = new O365\Psr3LogBridge($client, new class {
    public function log($level, $message, array $context = []): void   // or any PSR-3 logger
    {
        fprintf(STDERR, "[%s] %s %s\n", $level, $message, json_encode($context));
    }
});
while (true) {
    $worker->run(5000);
    // A second kind of work with its own filter: mailboxes that need a new sign-in.
    while (($event = $client->nextEventFiltered(['types' => ['reauth_required']], 0)) !== null) {
        fprintf(STDERR, "mailbox %s needs a new Microsoft sign-in\n", $event['address']);
        $client->ackEvent($event['id']);
    }
    $logs->pump();
}
