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

    /**
     * The server stops while a client is open (a cluster of this test's own, paused and
     * resumed by scripts/pg_cluster.sh): a call fails with StoreException, kind
     * store_unreachable and a hint, never the password; once the server is back the same
     * client works again and nothing it stored is lost.
     */
    public function testAServerStoppedMidRunIsAStoreErrorAndTheClientResumes(): void
    {
        self::pgUrl(); // skipped or failed the same way as the others
        $script = dirname(__DIR__, 3) . '/scripts/pg_cluster.sh';
        $dir = sys_get_temp_dir() . '/o365-php-pg-' . bin2hex(random_bytes(4));
        $run = static function (string $verb) use ($script, $dir): string {
            $out = [];
            exec(escapeshellarg($script) . " $verb " . escapeshellarg($dir) . ' 2>&1', $out, $rc);
            self::assertSame(0, $rc, "pg_cluster.sh $verb: " . implode("\n", $out));
            return trim((string) end($out));
        };
        $url = $run('start');
        try {
            $url = (string) preg_replace('#^postgres(ql)?://([^:@/]+)@#', 'postgres://$2:hunter2@', $url);
            $web1 = $this->pgClient($url . '&connect_timeout=5');
            $box = $web1->importMailbox(self::mailbox('vertrieb@contoso.example', ['u1'], 'u1'));

            $run('pause');
            try {
                $web1->getMailbox(['mailbox' => 'vertrieb@contoso.example']);
                self::fail('a call with the server stopped must fail');
            } catch (StoreException $e) {
                self::assertSame(11, $e->getStatus());
                self::assertSame('store_unreachable', $e->getErrorKind());
                self::assertStringContainsString('PostgreSQL', (string) $e->getHint());
                self::assertStringNotContainsString('hunter2', $e->getMessage() . $e->getHint()
                    . $e->getDocument());
            }

            $run('resume');
            $seen = $web1->getMailbox(['mailbox' => 'vertrieb@contoso.example']);
            self::assertSame($box['id'], $seen['id']);
        } finally {
            $run('stop');
        }
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
}
