<?php

declare(strict_types=1);

namespace O365\Tests;

use O365;

final class ExceptionTest extends TestCase
{
    private const CLASSES = [
        1 => O365\InvalidArgumentException::class,
        2 => O365\NotFoundException::class,
        3 => O365\AlreadyExistsException::class,
        4 => O365\ForbiddenException::class,
        5 => O365\AuthRequiredException::class,
        6 => O365\ConsentRequiredException::class,
        7 => O365\PolicyViolationException::class,
        8 => O365\ThrottledException::class,
        9 => O365\NetworkException::class,
        10 => O365\RemoteException::class,
        11 => O365\StoreException::class,
        12 => O365\TimeoutException::class,
        13 => O365\ForkedException::class,
        14 => O365\InternalException::class,
        15 => O365\WrongThreadException::class,
        16 => O365\ConflictException::class,
    ];

    public function testEveryStatusHasItsClass(): void
    {
        foreach (self::CLASSES as $status => $class) {
            $kind = O365\Exception::KINDS[$status];
            $doc = json_encode(['status' => $status, 'error' => $kind, 'message' => "m$status"]);
            $e = O365\Exception::fromStatus($status, $doc);
            self::assertInstanceOf($class, $e);
            self::assertInstanceOf(O365\Exception::class, $e);
            self::assertSame($status, $e->getStatus());
            self::assertSame($kind, $e->getErrorKind());
            self::assertSame("m$status", $e->getMessage());
            self::assertNull($e->getHint());
            self::assertSame([], $e->getDetails());
        }
    }

    public function testHintAndDetails(): void
    {
        $e = O365\Exception::fromStatus(8, '{"status": 8, "error": "throttled", "message": "slow down",'
            . ' "hint": "retry later", "details": {"retry_after": 5}}');
        self::assertInstanceOf(O365\ThrottledException::class, $e);
        self::assertSame('retry later', $e->getHint());
        self::assertSame(['retry_after' => 5], $e->getDetails());
    }

    public function testUnknownStatusFallsBack(): void
    {
        $e = O365\Exception::fromStatus(99, '{"status": 99, "error": "not_found", "message": "x"}');
        self::assertInstanceOf(O365\NotFoundException::class, $e, 'unknown number, known kind');
        $e = O365\Exception::fromStatus(98, '{"status": 98, "error": "brand_new", "message": "y"}');
        self::assertSame(O365\Exception::class, get_class($e));
        self::assertSame('brand_new', $e->getErrorKind());
        $e = O365\Exception::fromStatus(4, null);
        self::assertInstanceOf(O365\ForbiddenException::class, $e);
        self::assertStringContainsString('status 4', $e->getMessage());
        $e = O365\Exception::fromStatus(2, 'not json');
        self::assertInstanceOf(O365\NotFoundException::class, $e);
    }

    public function testRealErrorCarriesStatusMessageAndDocument(): void
    {
        $o365 = $this->client();
        try {
            $o365->getMailbox(['mailbox' => 'ghost@contoso.example', 'user' => 'u1']);
            self::fail('expected NotFoundException');
        } catch (O365\NotFoundException $e) {
            $doc = json_decode((string) $e->getDocument(), true, 64, JSON_THROW_ON_ERROR);
            self::assertSame($doc['message'], $e->getMessage());
            self::assertSame($doc['hint'] ?? null, $e->getHint());
            self::assertSame($doc['details'] ?? [], $e->getDetails());
        }
    }

    public function testPanicIsInternalAndClientKeepsWorking(): void
    {
        $o365 = $this->client(true);
        $o365->importMailbox(self::mailbox('anna@contoso.example'));
        for ($i = 0; $i < 3; $i++) {
            try {
                $o365->debugPanic();
                self::fail('debug_panic must throw');
            } catch (O365\InternalException $e) {
                self::assertSame(14, $e->getStatus());
                self::assertMatchesRegularExpression(self::KIND, $e->getErrorKind()); // e.g. internal or finer
                self::assertNotSame('', $e->getMessage());
            }
            self::assertCount(1, self::mailboxes($o365->listMailboxes()));
        }
    }

    public function testTestHooksOffIsForbidden(): void
    {
        $o365 = $this->client(false);
        $this->expectException(O365\ForbiddenException::class);
        $o365->debugPanic();
    }
}
