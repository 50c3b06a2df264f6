<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\StoreException;

/**
 * The PostgreSQL store (preview) through the PHP binding: two clients share one state the
 * way two web servers of a CRM do (a link one of them sent is served by the other, its file
 * kept in the database). `make test` runs inside scripts/pg_cluster.sh, which sets
 * O365_TEST_PG_URL; without it these tests fail (O365_TEST_PG_SKIP=1 skips them).
 */
final class PostgresStoreTest extends SimTestCase
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

    public function testALinkSentByOneHostIsServedByAnotherFromTheDatabase(): void
    {
        $config = $this->simConfig();
        $config['store'] = self::storeUrl('php_' . bin2hex(random_bytes(6)));
        $config['sync'] = ['scheduler' => false];
        $config['links'] = ['base_url' => 'https://crm.example/o365/link?t={token}', 'language' => 'en'];
        // Each "host" works in a directory of its own (relative paths would land there).
        $cwd = (string) getcwd();
        $host1 = $this->dir . '/web1';
        $host2 = $this->dir . '/web2';
        mkdir($host1, 0700);
        mkdir($host2, 0700);
        try {
            chdir($host1);
            $web1 = new Client($config, self::libraryPath());
            $id = $this->signedIn($web1);
            $bytes = random_bytes(200000);
            $sent = $web1->send(['mailbox' => $id, 'user' => 'u1', 'message' => [
                'to' => ['kunde@kunden.example'], 'subject' => 'Exposé von web1', 'body_text' => '_downloadLink(Exposé)',
                'attachments' => [['name' => 'expose.pdf', 'base64' => base64_encode($bytes)]]]]);
            self::assertSame('sent', $sent['state']);
            $token = $sent['link']['token'];
            $web1 = null;
            gc_collect_cycles();
            self::assertSame(['.', '..'], scandir($host1), 'nothing written on web1');
            rmdir($host1);

            // web2 shares nothing with web1 but the database
            chdir($host2);
            $web2 = new Client($config, self::libraryPath());
            $page = $web2->linkPage(['method' => 'GET', 'token' => $token]);
            self::assertSame(200, $page['status']);
            self::assertStringContainsString('Exposé von web1', $page['body']);
            $file = $web2->linkPage(['method' => 'GET', 'token' => $token, 'query' => ['f' => '0']]);
            self::assertSame(200, $file['status']);
            $data = '';
            while (($piece = $web2->linkRead($file['stream']['id'], strlen($data), 50000)) !== '') {
                $data .= $piece;
            }
            self::assertSame(hash('sha256', $bytes), hash('sha256', $data), 'identical bytes from the other host');
            self::assertSame(['.', '..'], scandir($host2), 'nothing written on web2');
        } finally {
            chdir($cwd);
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
