<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\ForbiddenException;
use O365\NotFoundException;

/**
 * Folders, messages, sync, cache clear and folder-contents move (issue 5) from PHP, against
 * an o365-sim process (target/debug/o365-sim, or the binary named by O365_SIM).
 */
final class SyncTest extends TestCase
{
    private const ANNA = 'anna.schmidt@contoso.example';

    /** @var resource|null */
    private static $sim = null;
    private static string $url = '';
    private static string $ca = '';
    private static string $bin = '';

    public static function setUpBeforeClass(): void
    {
        $env = getenv('O365_SIM');
        self::$bin = is_string($env) && $env !== '' ? $env : dirname(__DIR__, 3) . '/target/debug/o365-sim';
        if (!is_executable(self::$bin)) {
            self::fail('o365-sim not found at ' . self::$bin . ' (cargo build -p o365-sim, or set O365_SIM)');
        }
        $proc = proc_open(
            [self::$bin, 'serve', '--listen', '127.0.0.1:0', '--seed', 'demo'],
            [1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes
        );
        if (!is_resource($proc)) {
            self::fail('cannot start o365-sim');
        }
        self::$sim = $proc;
        $ready = json_decode((string) fgets($pipes[1]), true);
        if (!is_array($ready)) {
            self::fail('o365-sim did not print its ready line');
        }
        self::$url = $ready['url'];
        self::$ca = $ready['ca_file'];
    }

    public static function tearDownAfterClass(): void
    {
        if (is_resource(self::$sim)) {
            proc_terminate(self::$sim);
            proc_close(self::$sim);
        }
        self::$sim = null;
    }

    /** The config of this test's store, pointed at the sim. */
    private function simStoreConfig(): array
    {
        return $this->config(false) + [
            'app' => ['client_id' => '11111111-2222-3333-4444-555555555555', 'redirect_uri' => 'http://localhost:8080/o365/callback'],
            'endpoints' => ['login' => self::$url, 'graph' => self::$url . '/v1.0'],
            'ca_file' => self::$ca,
            'sync' => ['scheduler' => false],
        ];
    }

    /**
     * Warm list answers are kept in memory per client; a change made through another client
     * on the same store (another PHP-FPM worker, another host) shows at the next call.
     */
    public function testWarmListsSeeAnotherClientsChange(): void
    {
        [$a, $id] = $this->signedIn();
        self::assertSame('ok', $a->sync(['mailbox' => $id, 'user' => 'u1'])['status']);
        $b = new Client($this->simStoreConfig(), self::libraryPath());
        $fresh = ['mailbox' => $id, 'user' => 'u1', 'max_age_ms' => 3600000];
        $inbox = static function (Client $c) use ($fresh): array {
            foreach ($c->listFolders($fresh)['folders'] as $f) {
                if ($f['well_known'] === 'inbox') {
                    return $f;
                }
            }
            self::fail('no inbox');
        };
        $page = static fn (Client $c): array => $c->listMessages($fresh + ['folder' => 'inbox', 'limit' => 20]);
        $before = $inbox($a);
        self::assertSame($before, $inbox($a));
        $first = $page($a);
        self::assertSame($first, $page($a));
        $unread = null;
        foreach ($first['messages'] as $m) {
            if (!$m['is_read']) {
                $unread = $m['id'];
                break;
            }
        }
        self::assertNotNull($unread, 'an unread message on the first page');

        $b->markRead(['mailbox' => $id, 'user' => 'u1', 'id' => $unread]);

        self::assertSame($before['unread_count'] - 1, $inbox($a)['unread_count']);
        foreach ($page($a)['messages'] as $m) {
            if ($m['id'] === $unread) {
                self::assertTrue($m['is_read']);
            }
        }
        $b->close();
        $a->close();
    }

    /** A client on a fresh store with Anna's mailbox signed in, for users u1 and u2. */
    private function signedIn(): array
    {
        $c = new Client($this->simStoreConfig(), self::libraryPath());
        $id = $c->importMailbox(['address' => self::ANNA, 'users' => ['u1', 'u2']])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        self::assertSame('authorization_required', $start['status']);
        $cmd = [self::$bin, 'browse', 'sign-in', '--ca-file', self::$ca, '--url', $start['authorize_url'],
                '--user', self::ANNA, '--password', 'Passw0rd!'];
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $redirect = trim((string) stream_get_contents($pipes[1]));
        $err = stream_get_contents($pipes[2]);
        self::assertSame(0, proc_close($p), "sign-in page: $err");
        self::assertSame('authenticated', $c->authenticate(['callback_url' => $redirect])['status']);
        return [$c, $id];
    }

    public function testFoldersAndRolesOfAGermanMailbox(): void
    {
        [$c, $id] = $this->signedIn();
        $folders = $c->listFolders(['mailbox' => $id, 'user' => 'u1'])['folders'];
        $roles = [];
        foreach ($folders as $f) {
            if ($f['well_known'] !== null) {
                $roles[$f['well_known']] = $f['display_name'];
            }
        }
        self::assertSame('Posteingang', $roles['inbox']);
        self::assertSame('Gesendete Elemente', $roles['sentitems']);
        foreach (['drafts', 'deleteditems', 'junkemail', 'archive'] as $r) {
            self::assertArrayHasKey($r, $roles);
        }
        $inbox = array_values(array_filter($folders, fn ($f) => $f['well_known'] === 'inbox'))[0];
        self::assertGreaterThan(0, $inbox['total_count']);
        self::assertGreaterThan(0, $inbox['unread_count']);

        $this->expectException(ForbiddenException::class);
        $c->listFolders(['mailbox' => $id, 'user' => 'intruder']);
    }

    public function testSyncMessagesAndOperations(): void
    {
        [$c, $id] = $this->signedIn();
        $r = $c->sync(['mailbox' => $id, 'user' => 'u1']);
        self::assertSame('ok', $r['status']);
        self::assertGreaterThan(300, $r['upserted']);

        $page = $c->listMessages(['mailbox' => $id, 'user' => 'u1', 'folder' => 'inbox', 'limit' => 5]);
        self::assertCount(5, $page['messages']);
        self::assertIsString($page['next_cursor']);
        $next = $c->listMessages(['mailbox' => $id, 'user' => 'u1', 'folder' => 'inbox', 'limit' => 5,
                                  'cursor' => $page['next_cursor']]);
        self::assertNotSame($page['messages'][0]['id'], $next['messages'][0]['id']);

        $first = $page['messages'][0];
        $full = $c->getMessage(['mailbox' => $id, 'user' => 'u1', 'id' => $first['id']]);
        self::assertSame($first['internet_message_id'], $full['internet_message_id']);
        self::assertNotSame('', $full['body']['content']);

        $unread = $c->listMessages(['mailbox' => $id, 'user' => 'u1', 'folder' => 'inbox', 'unread_only' => true]);
        $target = $unread['messages'][0]['id'];
        self::assertSame([$target], $c->markRead(['mailbox' => $id, 'user' => 'u1', 'id' => $target])['changed']);
        $moved = $c->moveMessage(['mailbox' => $id, 'user' => 'u1', 'id' => $target, 'to' => 'Kunden']);
        self::assertSame($target, $moved['id']);
        self::assertTrue($c->deleteMessage(['mailbox' => $id, 'user' => 'u1', 'id' => $page['messages'][1]['id']])['deleted']);

        $all = $c->listMessages(['mailbox' => $id, 'user' => 'u1', 'folder' => 'inbox', 'limit' => 500])['messages'];
        $withAtt = array_values(array_filter($all, fn ($m) => $m['has_attachments']))[0];
        $msg = $c->getMessage(['mailbox' => $id, 'user' => 'u1', 'id' => $withAtt['id']]);
        $att = $c->getAttachment(['mailbox' => $id, 'user' => 'u1', 'message' => $withAtt['id'],
                                  'attachment' => $msg['attachments'][0]['id']]);
        self::assertNotFalse(base64_decode($att['content_base64'], true));

        $job = $c->moveFolderContents(['mailbox' => $id, 'user' => 'u1', 'from' => 'Gesendete Objekte', 'to' => 'sentitems']);
        self::assertSame('done', $job['state']);
        self::assertSame(50, $job['moved']);

        self::assertTrue($c->cacheClear(['mailbox' => $id, 'user' => 'u1'])['cleared']);
        $health = $c->getMailbox(['mailbox' => $id, 'user' => 'u1'])['health'];
        self::assertSame([], $health['folders']);
        $folders = $c->listFolders(['mailbox' => $id, 'user' => 'u1'])['folders'];
        $old = array_values(array_filter($folders, fn ($f) => $f['display_name'] === 'Gesendete Objekte'))[0];
        self::assertSame(0, $old['total_count']);

        $this->expectException(NotFoundException::class);
        $c->listMessages(['mailbox' => $id, 'user' => 'u1', 'folder' => 'Gibt es nicht']);
    }
}
