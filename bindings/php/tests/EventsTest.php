<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;

final class EventsTest extends TestCase
{
    private static function drain(Client $o365): void
    {
        while (($e = $o365->nextEvent(0)) !== null) {
            $o365->ackEvent($e['id']);
        }
    }

    public function testEmitNextAck(): void
    {
        $o365 = $this->client();
        self::drain($o365);
        $t0 = microtime(true);
        self::assertNull($o365->nextEvent(200), 'empty queue: timeout gives null');
        self::assertGreaterThanOrEqual(0.15, microtime(true) - $t0);

        $id = $o365->debugEmitEvent(['type' => 'test.ping', 'payload' => ['n' => 7, 'text' => "h\u{e9}llo"]])['id'];
        self::assertIsString($id);
        $event = $o365->nextEvent(1000);
        self::assertNotNull($event);
        self::assertSame($id, $event['id']);
        self::assertSame('test.ping', $event['type']);
        self::assertSame(7, $event['n']);
        self::assertSame("h\u{e9}llo", $event['text']);
        self::assertArrayHasKey('created_at', $event);
        $o365->ackEvent($id);
        self::assertNull($o365->nextEvent(50));
    }

    public function testEventsSurviveReopenUntilAcked(): void
    {
        $o365 = $this->client();
        self::drain($o365);
        $id = $o365->debugEmitEvent(['type' => 'test.durable', 'payload' => new \stdClass()])['id'];
        $first = $o365->nextEvent(1000);
        self::assertSame($id, $first['id'] ?? null);
        $o365->close();
        unset($o365);

        $again = $this->client();
        $second = $again->nextEvent(1000);
        self::assertSame($id, $second['id'] ?? null, 'handed out but not acked: delivered again after reopen');
        $again->ackEvent($id);
        $again->close();

        $third = $this->client();
        self::assertNull($third->nextEvent(100), 'acked: gone for good');
    }
}
