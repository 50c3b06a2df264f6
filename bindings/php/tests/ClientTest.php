<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\AlreadyExistsException;
use O365\Client;
use O365\ForbiddenException;
use O365\InvalidArgumentException;
use O365\Library;
use O365\NotFoundException;

final class ClientTest extends TestCase
{
    public function testVersionAndAbi(): void
    {
        $client = $this->client();
        self::assertMatchesRegularExpression('/^\d+\.\d+\.\d+/', $client->version());
        self::assertSame(Library::ABI_VERSION, Library::abiVersion(self::libraryPath()));
        self::assertSame($client->version(), Library::version(self::libraryPath()));
    }

    public function testWarningsOfClientNew(): void
    {
        // with a configured key: no warning
        self::assertSame([], $this->client()->warnings());

        // without one (and without O365_ENCRYPTION_KEY): the key file beside the store is named
        $config = $this->config();
        unset($config['encryption_key']);
        $saved = getenv('O365_ENCRYPTION_KEY');
        putenv('O365_ENCRYPTION_KEY');
        try {
            $client = new Client($config, self::libraryPath());
        } finally {
            if (is_string($saved)) {
                putenv('O365_ENCRYPTION_KEY=' . $saved);
            }
        }
        $warnings = $client->warnings();
        self::assertCount(1, $warnings);
        self::assertStringContainsString('no encryption key configured', $warnings[0]);
        self::assertStringContainsString($config['store'] . '.key', $warnings[0]);
        self::assertSame($warnings, $client->info()['warnings']);
        self::assertSame(Library::ABI_VERSION, $client->info()['abi_version']);
    }

    public function testProxySetting(): void
    {
        // a proxy where nothing listens: the sign-in start (tenant discovery) fails with
        // NetworkException whose hint names the proxy, without its password
        $server = stream_socket_server('tcp://127.0.0.1:0');
        self::assertNotFalse($server);
        $port = (int) substr((string) stream_socket_get_name($server, false), strlen('127.0.0.1:'));
        fclose($server);
        $config = $this->config() + [
            'app' => ['client_id' => '11111111-2222-3333-4444-555555555555',
                      'redirect_uri' => 'https://crm.example/o365/callback'],
            'proxy' => ['url' => "http://ops:hunter2@127.0.0.1:$port", 'no_proxy' => ['localhost']],
            'sync' => ['scheduler' => false],
        ];
        $o365 = new Client($config, self::libraryPath());
        $box = $o365->importMailbox(self::mailbox('anna@contoso.example'));
        try {
            $o365->authenticate(['mailbox' => $box['id'], 'user' => 'u1']);
            self::fail('the sign-in must not get past a dead proxy');
        } catch (\O365\NetworkException $e) {
            self::assertSame(9, $e->getStatus());
            self::assertStringContainsString("proxy http://127.0.0.1:$port", (string) $e->getHint());
            self::assertStringNotContainsString('hunter2', (string) $e->getDocument());
        }

        // a proxy that is not an http(s) URL is refused, naming the field
        $config['proxy'] = 'socks5://127.0.0.1:1080';
        try {
            new Client($config, self::libraryPath());
            self::fail('a SOCKS proxy must be refused');
        } catch (InvalidArgumentException $e) {
            self::assertSame('proxy.url', $e->getDetails()['field'] ?? null);
        }
    }

    public function testHappyPath(): void
    {
        $o365 = $this->client();
        $anna = $o365->importMailbox(self::mailbox('anna@contoso.example', ['u1', 'u2'], 'u1'));
        self::assertIsString($anna['id']);
        self::assertNotSame('', $anna['id']);
        self::assertSame('anna@contoso.example', $anna['address']);
        self::assertSame('user', $anna['kind']);
        self::assertSame(['u1', 'u2'], $anna['users']);
        self::assertSame('u1', $anna['main_user']);
        self::assertSame('not_authenticated', $anna['auth_state']);
        self::assertArrayHasKey('settings', $anna);
        self::assertArrayHasKey('created_at', $anna);

        $team = $o365->importMailbox(self::mailbox('team@contoso.example', ['u2'], 'u2', 'shared'));
        self::assertSame('shared', $team['kind']);

        $all = self::mailboxes($o365->listMailboxes());
        self::assertSame(['anna@contoso.example', 'team@contoso.example'], self::addresses($all));
        self::assertSame(['anna@contoso.example'], self::addresses(self::mailboxes($o365->listMailboxes(['user' => 'u1']))));
        self::assertSame([], self::mailboxes($o365->listMailboxes(['user' => 'nobody'])));

        $byId = $o365->getMailbox(['mailbox' => $anna['id'], 'user' => 'u2']);
        self::assertSame('anna@contoso.example', $byId['address']);
        $byAddress = $o365->getMailbox(['mailbox' => 'anna@contoso.example', 'user' => 'u1']);
        self::assertSame($anna['id'], $byAddress['id']);

        $updated = $o365->updateMailbox([
            'mailbox' => 'anna@contoso.example', 'user' => 'u1',
            'users' => ['u1', 'u3'], 'main_user' => 'u3', 'settings' => new \stdClass(),
        ]);
        self::assertSame('u3', $updated['main_user']);
        self::assertSame(['u1', 'u3'], $updated['users']);

        $o365->removeMailbox(['mailbox' => 'team@contoso.example', 'user' => 'u2']);
        self::assertSame(['anna@contoso.example'], self::addresses(self::mailboxes($o365->listMailboxes())));

        // the generic call() is the same as the named methods
        self::assertSame($o365->getMailbox(['mailbox' => $anna['id'], 'user' => 'u1']),
            $o365->call('get_mailbox', ['mailbox' => $anna['id'], 'user' => 'u1']));
        $raw = $o365->callJson('list_mailboxes', '{}');
        self::assertStringContainsString('anna@contoso.example', $raw);
    }

    public function testAlreadyExists(): void
    {
        $o365 = $this->client();
        $o365->importMailbox(self::mailbox('anna@contoso.example'));
        try {
            $o365->importMailbox(self::mailbox('anna@contoso.example'));
            self::fail('second import must throw');
        } catch (AlreadyExistsException $e) {
            self::assertSame(3, $e->getStatus());
            self::assertSame(3, $e->getCode());
            self::assertMatchesRegularExpression(self::KIND, $e->getErrorKind()); // e.g. already_exists or finer
            self::assertNotSame('', $e->getMessage());
        }
    }

    public function testMainUserNotAmongUsers(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->client()->importMailbox(self::mailbox('anna@contoso.example', ['u1'], 'u2'));
    }

    public function testForbiddenAndNotFound(): void
    {
        $o365 = $this->client();
        $o365->importMailbox(self::mailbox('anna@contoso.example', ['u1']));
        try {
            $o365->getMailbox(['mailbox' => 'anna@contoso.example', 'user' => 'intruder']);
            self::fail('unassigned user must be refused');
        } catch (ForbiddenException $e) {
            self::assertSame(4, $e->getStatus());
            self::assertMatchesRegularExpression(self::KIND, $e->getErrorKind()); // e.g. forbidden or finer
        }
        try {
            $o365->getMailbox(['mailbox' => 'ghost@contoso.example', 'user' => 'u1']);
            self::fail('unknown mailbox must be not found');
        } catch (NotFoundException $e) {
            self::assertSame(2, $e->getStatus());
            self::assertMatchesRegularExpression(self::KIND, $e->getErrorKind()); // e.g. not_found or finer
            $doc = json_decode((string) $e->getDocument(), true);
            self::assertSame(2, $doc['status']);
        }
    }

    public function testTwoClientsShareTheStore(): void
    {
        $a = $this->client();
        $b = $this->client();
        $a->importMailbox(self::mailbox('anna@contoso.example'));
        self::assertSame(['anna@contoso.example'], self::addresses(self::mailboxes($b->listMailboxes())));
    }

    public function testCloseIsIdempotentAndLaterCallsThrow(): void
    {
        $o365 = $this->client();
        $o365->close();
        $o365->close();
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('closed');
        $o365->listMailboxes();
    }

    public function testUnknownVerb(): void
    {
        $o365 = $this->client();
        $this->expectException(\BadMethodCallException::class);
        $o365->call('no_such_verb', []);
    }

    public function testNotAVerb(): void
    {
        $o365 = $this->client();
        $this->expectException(\BadMethodCallException::class);
        $o365->call('client_free', []);
    }

    public function testCloneIsRefused(): void
    {
        $o365 = $this->client();
        $this->expectException(\Error::class);
        $copy = clone $o365;
        unset($copy);
    }

    public function testConfigWithoutEncryptionKeyCreatesKeyFile(): void
    {
        if (getenv('O365_ENCRYPTION_KEY') !== false) {
            self::markTestSkipped('O365_ENCRYPTION_KEY is set');
        }
        $o365 = new Client(['store' => 'sqlite://' . $this->dir . '/nokey.db'], self::libraryPath());
        $o365->importMailbox(self::mailbox('anna@contoso.example'));
        $o365->close();
        $files = array_values(array_diff(scandir($this->dir) ?: [], ['.', '..']));
        self::assertContains('nokey.db', $files);
        $keyFiles = array_values(array_filter($files, static fn($f) => !preg_match('/\.db(-wal|-shm|-journal)?$/', $f)));
        self::assertNotEmpty($keyFiles, 'a key file is created beside the store: ' . implode(', ', $files));
        foreach ($keyFiles as $f) {
            self::assertSame('600', sprintf('%o', fileperms($this->dir . '/' . $f) & 0777), "mode of $f");
        }
    }
}
