<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\ThrottledException;

/**
 * Under pressure from PHP (issue 12): a mailbox Microsoft throttles for five minutes never
 * holds a PHP worker (stale cache, queued send, O365_THROTTLED with queue: false), and a
 * background job that panics is restarted and counted in the mailbox's health.
 */
final class PressureTest extends SimTestCase
{
    private function pressureClient(): Client
    {
        $config = $this->simConfig();
        $config['debug'] = ['test_hooks' => true];
        $config['sync'] = ['scheduler' => false];
        // A call that waited out Retry-After: 300 would block for minutes: it must not wait.
        $config['timeouts'] = ['call_ms' => 600000];
        return new Client($config, self::libraryPath());
    }

    public function testLongThrottlingAnswersAtOnce(): void
    {
        $c = $this->pressureClient();
        $id = $this->signedIn($c);
        $c->listFolders(['mailbox' => $id, 'user' => 'u1']);
        $this->simPost('/_sim/faults', ['path' => '/v1.0/*', 'status' => 429, 'retryAfter' => 300]);

        $folders = $c->listFolders(['mailbox' => $id, 'user' => 'u1', 'max_age_ms' => 0]);
        self::assertTrue($folders['stale']);
        self::assertSame(8, $folders['refresh_error']['status']);
        self::assertNotEmpty($folders['folders']);

        $queued = $c->send(['mailbox' => $id, 'user' => 'u1', 'message' => [
            'to' => ['kunde@kunden.example'], 'subject' => 'Gedrosselt', 'body_text' => 'x',
        ]]);
        self::assertSame('queued', $queued['state']);
        try {
            $c->send(['mailbox' => $id, 'user' => 'u1', 'queue' => false, 'message' => [
                'to' => ['kunde@kunden.example'], 'subject' => 'Nie', 'body_text' => 'x',
            ]]);
            self::fail('queue: false must not queue while throttled');
        } catch (ThrottledException $e) {
            self::assertGreaterThan(200000, $e->getDetails()['retry_after_ms']);
        }
        $health = $c->getMailbox(['mailbox' => $id])['health'];
        self::assertIsString($health['throttled_until']);
        self::assertSame([], $this->simGet('/_sim/outbound')['messages']);
    }

    public function testPanickingSendWorkerIsRestartedAndCounted(): void
    {
        $c = $this->pressureClient();
        $id = $this->signedIn($c);
        self::assertSame('send_worker', $c->debugPanic(['job' => 'send_worker'])['armed']);
        $q = $c->send(['mailbox' => $id, 'user' => 'u1', 'queue' => true, 'message' => [
            'to' => ['kunde@kunden.example'], 'subject' => 'Nach dem Absturz', 'body_text' => 'x',
        ]]);
        self::assertSame('queued', $q['state']);
        $done = null;
        while ($done === null) {
            $e = $c->nextEvent(60000);
            self::assertNotNull($e, 'an event');
            $c->ackEvent($e['id']);
            if ($e['type'] === 'send_completed' || $e['type'] === 'send_failed') {
                $done = $e;
            }
        }
        self::assertSame('send_completed', $done['type']);
        self::assertSame($q['send_id'], $done['send_id']);
        $bg = $c->getMailbox(['mailbox' => $id])['health']['background'];
        self::assertSame(1, $bg['jobs']['send_worker']['panics']);
        self::assertStringContainsString('send_worker', $bg['jobs']['send_worker']['last_panic']);
    }
}
