<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\ActivityWorker;

/**
 * The CRM worker loop for activities (issue 7) from PHP against o365-sim: mail sent from
 * Outlook is booked once, the CRM's own mail never; an activity not acked (the worker died)
 * comes again, an acked one never.
 */
final class ActivityTest extends SimTestCase
{
    private function outlookSend(string $subject): string
    {
        $r = $this->simPost('/_sim/mailboxes/' . self::ANNA . '/outlook-send', [
            'subject' => $subject, 'body' => 'from Outlook', 'to' => ['kunde@kunden.example'],
        ]);
        return $r['internetMessageId'];
    }

    public function testWorkerBooksOutlookMailOnceAndNeverTheCrmsOwn(): void
    {
        $config = $this->simConfig();
        $config['events'] = ['lease_ms' => 200];
        $c = new \O365\Client($config, self::libraryPath());
        $id = $this->signedIn($c);
        $c->call('sync', ['mailbox' => $id, 'user' => 'u1']);
        (new ActivityWorker($c, fn () => null))->run(100); // drain setup events

        $outlook = [$this->outlookSend('Outlook 1'), $this->outlookSend('Outlook 2')];
        $crm = $c->send(['mailbox' => $id, 'user' => 'u2',
            'message' => ['to' => ['kunde@kunden.example'], 'subject' => 'CRM', 'body_text' => 'x']]);
        $c->call('sync', ['mailbox' => $id, 'user' => 'u1']);

        // A worker that dies while booking the first activity: nothing is acked.
        $dying = new ActivityWorker($c, function (array $a): void {
            throw new \RuntimeException('CRM database down');
        });
        try {
            $dying->run(100);
            self::fail('the booking error must surface');
        } catch (\RuntimeException $e) {
            self::assertSame('CRM database down', $e->getMessage());
        }
        // The reservation of the unacked events (events.lease_ms 200) has ended for a client
        // whose clock is 10 s later: no sleeping.
        $laterConfig = $config;
        $laterConfig['debug'] = ['test_hooks' => false, 'clock_offset_ms' => 10000];
        $later = new \O365\Client($laterConfig, self::libraryPath());

        $booked = [];
        $worker = new ActivityWorker($later, function (array $a) use (&$booked): void {
            self::assertSame('E-Mail – Ausgang', $a['activity_type']);
            self::assertSame('Externer E-Mail-Versand', $a['marker']);
            self::assertSame('u1', $a['responsible_user']);
            $booked[$a['id']] = $a['internet_message_id'];
        });
        self::assertSame(2, $worker->run(200));
        sort($outlook);
        $got = array_values($booked);
        sort($got);
        self::assertSame($outlook, $got);
        self::assertNotContains($crm['internet_message_id'], $got);

        // Acked: never again, even after a cache clear and a full resync.
        $c->call('cache_clear', ['mailbox' => $id, 'user' => 'u1']);
        $c->call('sync', ['mailbox' => $id, 'user' => 'u1']);
        self::assertSame(0, $worker->run(200));
    }
}
