<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;

/**
 * Base for PHP tests against o365-sim: starts the sim binary per test (demo seed), a client
 * pointing at it, and sign-in driven through the sim's own pages (`o365-sim browse`).
 */
abstract class SimTestCase extends TestCase
{
    public const ANNA = 'anna.schmidt@contoso.example';
    public const BEN = 'ben.mueller@contoso.example';
    public const PASSWORD = 'Passw0rd!';
    /** The demo seed's public client ("Mobile and desktop applications", localhost redirect URIs). */
    public const APP_ID = '11111111-2222-3333-4444-555555555555';
    /** The demo seed's "Web" app: confidential, https redirect URI, needs its secret. */
    public const WEB_APP_ID = '22222222-3333-4444-5555-666666666666';
    public const WEB_APP_SECRET = 'Xq38Q~demo.web.secret-value_0123456789abc';
    public const WEB_APP_REDIRECT = 'https://crm.example/o365/callback';

    /** @var resource|null */
    private $sim = null;
    /** @var array<int, resource> */
    private array $simPipes = [];
    protected string $url = '';
    protected string $caFile = '';

    public static function simBinary(): string
    {
        $bin = getenv('O365_SIM');
        if (is_string($bin) && $bin !== '') {
            return $bin;
        }
        return dirname(self::libraryPath()) . '/o365-sim';
    }

    protected function setUp(): void
    {
        parent::setUp();
        $bin = self::simBinary();
        self::assertFileExists($bin, 'the o365-sim binary (cargo build -p o365-sim)');
        $this->sim = proc_open(
            [$bin, 'serve', '--listen', '127.0.0.1:0', '--seed', 'demo'],
            [1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'a']],
            $this->simPipes
        );
        self::assertIsResource($this->sim);
        $line = fgets($this->simPipes[1]);
        self::assertIsString($line, 'o365-sim printed its ready line');
        $ready = json_decode($line, true, 8, JSON_THROW_ON_ERROR);
        $this->url = $ready['url'];
        $this->caFile = $ready['ca_file'];
    }

    protected function tearDown(): void
    {
        if ($this->sim !== null) {
            proc_terminate($this->sim);
            fclose($this->simPipes[1]);
            proc_close($this->sim);
            $this->sim = null;
        }
        parent::tearDown();
    }

    /** @return array<string, mixed> a config pointing at the sim */
    protected function simConfig(): array
    {
        $config = $this->config(false);
        $config['app'] = [
            'client_id' => self::APP_ID,
            'redirect_uri' => 'http://localhost:8080/o365/callback',
        ];
        $config['endpoints'] = ['login' => $this->url, 'graph' => $this->url . '/v1.0'];
        $config['ca_file'] = $this->caFile;
        return $config;
    }

    protected function simClient(): Client
    {
        return new Client($this->simConfig(), self::libraryPath());
    }

    /** Runs `o365-sim browse ARGS...` and returns what it printed (the redirect URL). */
    protected function browse(array $args): string
    {
        $cmd = array_merge([self::simBinary(), 'browse'], $args, ['--ca-file', $this->caFile]);
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        self::assertIsResource($p);
        $out = trim((string) stream_get_contents($pipes[1]));
        $err = (string) stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        self::assertSame(0, proc_close($p), "o365-sim browse: $err");
        return $out;
    }

    /** A person signing in as $login on the page behind $authorizeUrl. */
    protected function signInPage(string $authorizeUrl, string $login, bool $accept = true): string
    {
        $args = ['sign-in', '--url', $authorizeUrl, '--user', $login, '--password', self::PASSWORD];
        if (!$accept) {
            $args[] = '--decline';
        }
        return $this->browse($args);
    }

    /** Imports $address for u1 (main) and u2, and signs it in as $login. */
    protected function signedIn(Client $c, string $address = self::ANNA, ?string $login = null): string
    {
        $id = $c->importMailbox(['address' => $address, 'users' => ['u1', 'u2'], 'main_user' => 'u1'])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        self::assertSame('authorization_required', $start['status']);
        $redirect = $this->signInPage($start['authorize_url'], $login ?? $address);
        $done = $c->authenticate(['callback_url' => $redirect]);
        self::assertSame('authenticated', $done['status']);
        return $id;
    }

    /** GET on the sim's admin API. @return array<string, mixed> */
    protected function simGet(string $path): array
    {
        $ctx = stream_context_create(['ssl' => ['cafile' => $this->caFile, 'verify_peer' => true]]);
        $body = file_get_contents($this->url . $path, false, $ctx);
        self::assertIsString($body);
        return json_decode($body, true, 64, JSON_THROW_ON_ERROR);
    }

    /** POST JSON on the sim's admin API. @return array<string, mixed> */
    protected function simPost(string $path, array $body): array
    {
        return $this->simSend('POST', $path, $body);
    }

    /** PATCH JSON on the sim's admin API. @return array<string, mixed> */
    protected function simPatch(string $path, array $body): array
    {
        return $this->simSend('PATCH', $path, $body);
    }

    /** @return array<string, mixed> */
    private function simSend(string $method, string $path, array $body): array
    {
        $ctx = stream_context_create([
            'ssl' => ['cafile' => $this->caFile, 'verify_peer' => true],
            'http' => ['method' => $method, 'header' => "Content-Type: application/json\r\n",
                       'content' => json_encode($body, JSON_THROW_ON_ERROR), 'ignore_errors' => true],
        ]);
        $resp = file_get_contents($this->url . $path, false, $ctx);
        self::assertIsString($resp);
        return $resp === '' ? [] : (json_decode($resp, true, 64, JSON_THROW_ON_ERROR) ?? []);
    }
}
