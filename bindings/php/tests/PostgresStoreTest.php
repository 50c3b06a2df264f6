<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\StoreException;

/**
 * The PostgreSQL store (preview) through the PHP binding: two clients share one state the
 * way two web servers of a CRM do. `make test` runs inside scripts/pg_cluster.sh, which sets
 * O365_TEST_PG_URL; without it these tests fail (O365_TEST_PG_SKIP=1 skips them).
 */
final class PostgresStoreTest extends TestCase
{
    private static function pgUrl(): string
    {
        $url = getenv('O365_TEST_PG_URL');
        if (!is_string($url) || $url === '') {
            if (getenv('O365_TEST_PG_SKIP') === '1') {
                self::markTestSkipped('O365_TEST_PG_SKIP=1: no PostgreSQL server for this run');
            }
            self::fail('O365_TEST_PG_URL is not set: run under scripts/pg_cluster.sh run ... '
                . '(make test does), or set O365_TEST_PG_SKIP=1');
        }
        return $url;
    }

    /** The cluster's URL with a password (trust authentication ignores it) and a fresh schema. */
    private static function storeUrl(string $schema): string
    {
        $url = self::pgUrl();
        $url = (string) preg_replace('#^postgres(ql)?://([^:@/]+)@#', 'postgres://$2:hunter2@', $url);
        return $url . (str_contains($url, '?') ? '&' : '?') . 'schema=' . $schema;
    }

    private function pgClient(string $url): Client
    {
        return new Client(['store' => $url, 'encryption_key' => self::KEY,
                           'sync' => ['scheduler' => false],
                           'debug' => ['test_hooks' => true]], self::libraryPath());
    }

    public function testTwoClientsShareOneStateAndThePasswordIsNeverShown(): void
    {
        $url = self::storeUrl('php_' . bin2hex(random_bytes(6)));
        $web1 = $this->pgClient($url);
        $web2 = $this->pgClient($url);
        self::assertStringNotContainsString('hunter2', json_encode($web1->info(), JSON_THROW_ON_ERROR));
        self::assertStringContainsString(':***@', (string) $web1->info()['store']);

        $box = $web1->importMailbox(self::mailbox('Vertrieb@Contoso.example', ['u1', 'u2'], 'u1'));
        $seen = $web2->getMailbox(['mailbox' => 'vertrieb@contoso.example']);
        self::assertSame($box['id'], $seen['id']);
        self::assertSame(['u1', 'u2'], $seen['users']);

        // one event, handed to one consumer of the two
        $web1->debugEmitEvent(['type' => 'test.shared', 'payload' => ['n' => 1]]);
        $event = $web2->nextEvent(5000);
        self::assertNotNull($event);
        self::assertSame('test.shared', $event['type']);
        $web2->ackEvent($event['id']);
        self::assertNull($web1->nextEvent(0));
    }

    public function testAnUnreachableServerIsAStoreErrorWithAHint(): void
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        self::assertNotFalse($server);
        $port = (int) substr((string) stream_socket_get_name($server, false), strlen('127.0.0.1:'));
        fclose($server);
        try {
            $this->pgClient("postgres://crm:hunter2@127.0.0.1:$port/crm?sslmode=disable");
            self::fail('a store nobody listens for must not open');
        } catch (StoreException $e) {
            self::assertSame(11, $e->getStatus());
            self::assertNotSame('', (string) $e->getHint());
            self::assertStringNotContainsString('hunter2', $e->getMessage() . $e->getHint()
                . $e->getDocument());
        }
    }

    /** The test server's CA (scripts/pg_cluster.sh makes one and exports its path). */
    private static function pgCa(): string
    {
        self::pgUrl();
        $ca = getenv('O365_TEST_PG_CA');
        if (!is_string($ca) || $ca === '') {
            self::fail('O365_TEST_PG_CA is not set: run under scripts/pg_cluster.sh run ... '
                . '(make test does), or set O365_TEST_PG_SKIP=1');
        }
        return $ca;
    }

    /** The store URL with TLS options instead of sslmode=disable. */
    private static function tlsUrl(string $schema, string $tls): string
    {
        return str_replace('sslmode=disable', $tls, self::storeUrl($schema));
    }

    public function testHostsWithTheirOwnHostIdShareOneStateOverVerifiedTls(): void
    {
        $ca = self::pgCa();
        $url = self::tlsUrl('php_tls_' . bin2hex(random_bytes(6)), "sslmode=verify-full&sslrootcert=$ca");
        $hosts = [];
        foreach (['web1', 'web2'] as $host) {
            $hosts[$host] = new Client(['store' => $url, 'encryption_key' => self::KEY, 'host_id' => $host,
                                        'events' => ['poll_ms' => 50],
                                        'sync' => ['scheduler' => false],
                                        'debug' => ['test_hooks' => true]], self::libraryPath());
        }
        self::assertStringNotContainsString('hunter2', json_encode($hosts['web1']->info(), JSON_THROW_ON_ERROR));
        $box = $hosts['web1']->importMailbox(self::mailbox('tls@contoso.example', ['u1'], 'u1'));
        self::assertSame($box['id'], $hosts['web2']->getMailbox(['mailbox' => 'tls@contoso.example'])['id']);
        $hosts['web2']->debugEmitEvent(['type' => 'test.tls', 'payload' => ['n' => 2]]);
        $event = $hosts['web1']->nextEvent(5000);
        self::assertNotNull($event);
        self::assertSame('test.tls', $event['type']);
        $hosts['web1']->ackEvent($event['id']);
    }

    public function testAServerCertificateFromAnotherCaIsAStoreErrorThatNamesTheCaOption(): void
    {
        $other = dirname(self::pgCa()) . '/other-ca.pem';
        $url = self::tlsUrl('php_tls_' . bin2hex(random_bytes(6)), "sslmode=verify-full&sslrootcert=$other");
        try {
            $this->pgClient($url);
            self::fail('a server whose certificate another CA signed must not be trusted');
        } catch (StoreException $e) {
            self::assertSame(11, $e->getStatus());
            self::assertStringContainsString('certificate', $e->getMessage());
            self::assertStringContainsString('sslrootcert', (string) $e->getHint());
            self::assertStringNotContainsString('hunter2', $e->getMessage() . $e->getHint()
                . $e->getDocument());
        }
    }

    public function testAnInvalidHostIdIsAnInvalidArgumentNamingTheField(): void
    {
        try {
            new Client(['store' => self::storeUrl('php_bad'), 'encryption_key' => self::KEY,
                        'host_id' => 'web|1', 'sync' => ['scheduler' => false]], self::libraryPath());
            self::fail('a host id with | must be refused');
        } catch (\O365\InvalidArgumentException $e) {
            self::assertSame('host_id', $e->getDetails()['field'] ?? null);
        }
    }
}
