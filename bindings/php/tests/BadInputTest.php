<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\InvalidArgumentException;

/**
 * Every malformed request comes back as InvalidArgumentException (status 1) carrying the
 * library's error document; nothing crashes and the client keeps working.
 */
final class BadInputTest extends TestCase
{
    /** verb => a valid request (raw JSON) */
    private const VALID = [
        'import_mailbox' => '{"address": "zed@contoso.example", "users": ["u1"], "main_user": "u1", "kind": "user"}',
        'list_mailboxes' => '{"user": "u1"}',
        'get_mailbox' => '{"mailbox": "anna@contoso.example", "user": "u1"}',
        'update_mailbox' => '{"mailbox": "anna@contoso.example", "user": "u1", "main_user": "u1"}',
        'remove_mailbox' => '{"mailbox": "nobody@contoso.example", "user": "u1"}',
        'debug_emit_event' => '{"type": "test.x", "payload": {}}',
    ];

    /** @return iterable<string, array{string, ?string}> */
    public function badRequests(): iterable
    {
        foreach (array_keys(self::VALID) as $verb) {
            yield "$verb: NULL request" => [$verb, null];
            yield "$verb: empty" => [$verb, ''];
            yield "$verb: malformed" => [$verb, '{"user": '];
            yield "$verb: trailing comma" => [$verb, '{"user": "u1",}'];
            yield "$verb: trailing garbage" => [$verb, '{} x'];
            yield "$verb: array" => [$verb, '[]'];
            yield "$verb: number" => [$verb, '42'];
            yield "$verb: lone surrogate escape" => [$verb, '{"user": "\ud800"}'];
            yield "$verb: unknown field" => [$verb, substr(self::VALID[$verb], 0, -1) . ', "bogus_field": 1}'];
            yield "$verb: invalid UTF-8" => [$verb, str_replace('u1', "u\xff\xfe", self::VALID[$verb]) === self::VALID[$verb]
                ? str_replace('test.x', "test.\xff", self::VALID[$verb])
                : str_replace('u1', "u\xff\xfe", self::VALID[$verb])];
            yield "$verb: wrong type" => [$verb, str_replace(['"u1"', '"test.x"'], ['17', '17'], self::VALID[$verb])];
        }
    }

    /** @dataProvider badRequests */
    public function testBadRequestIsInvalidArgument(string $verb, ?string $json): void
    {
        $o365 = $this->client();
        $o365->importMailbox(self::mailbox('anna@contoso.example'));
        try {
            $o365->callJson($verb, $json);
            self::fail("$verb accepted " . var_export($json, true));
        } catch (InvalidArgumentException $e) {
            self::assertSame(1, $e->getStatus());
            self::assertMatchesRegularExpression(self::KIND, $e->getErrorKind()); // e.g. invalid_argument or finer
            self::assertNotSame('', $e->getMessage());
            $doc = json_decode((string) $e->getDocument(), true);
            self::assertIsArray($doc, 'error document: ' . var_export($e->getDocument(), true));
            self::assertSame(1, $doc['status']);
            self::assertSame($e->getErrorKind(), $doc['error']);
        }
        // still works
        self::assertCount(1, self::mailboxes($o365->listMailboxes()));
    }

    public function testTenMegabyteRequest(): void
    {
        $o365 = $this->client();
        foreach (['import_mailbox', 'list_mailboxes', 'get_mailbox'] as $verb) {
            $json = '{"user": "' . str_repeat('a', 10_000_000) . '"}';
            try {
                $o365->callJson($verb, $json);
                self::fail("$verb accepted a 10 MB request");
            } catch (InvalidArgumentException $e) {
                self::assertSame(1, $e->getStatus());
            }
        }
    }

    public function testInvalidUtf8IsRefusedBeforeTheCall(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->client()->listMailboxes(['user' => "\xff"]);
    }

    /** @return iterable<string, array{array<string, mixed>, ?string}> */
    public function badConfigs(): iterable
    {
        yield 'empty' => [[], 'store'];
        yield 'store wrong type' => [['store' => 42], 'store'];
        yield 'unknown field' => [['store' => '/tmp/o365-never.db', 'stroe' => 1], 'stroe'];
        yield 'unknown nested field' => [['store' => '/tmp/o365-never.db', 'timeouts' => ['cal_ms' => 1]], 'cal_ms'];
        yield 'short encryption key' => [['store' => '/tmp/o365-never.db', 'encryption_key' => 'c2hvcnQ='], 'encryption_key'];
    }

    /**
     * @dataProvider badConfigs
     * @param array<string, mixed> $config
     */
    public function testBadConfig(array $config, ?string $field): void
    {
        if (is_string($config['store'] ?? null)) {
            $config['store'] = $this->dir . '/never.db';
        }
        try {
            new Client($config, self::libraryPath());
            self::fail('config accepted: ' . json_encode($config));
        } catch (InvalidArgumentException $e) {
            self::assertSame(1, $e->getStatus());
            if ($field !== null) {
                // named in the message or in details.field
                self::assertStringContainsString($field, $e->getMessage() . ' ' . ($e->getDetails()['field'] ?? ''),
                    (string) $e->getDocument());
            }
        }
    }

    public function testNegativeTimeout(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->client()->nextEvent(-1);
    }
}
