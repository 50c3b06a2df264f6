<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;

/**
 * Base for the o365 PHPUnit tests: a fresh temporary directory (and so a fresh SQLite store)
 * per test, and the library from O365_LIB (set by the Makefile) or target/debug/libo365.so.
 */
abstract class TestCase extends \PHPUnit\Framework\TestCase
{
    /** an error kind: snake_case, the status's name or a finer one (e.g. invalid_field) */
    public const KIND = '/^[a-z][a-z0-9_]*$/';

    public const KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

    protected string $dir;

    protected function setUp(): void
    {
        $base = sys_get_temp_dir() . '/o365-phpunit-' . bin2hex(random_bytes(6));
        if (!mkdir($base, 0700)) {
            self::fail("cannot create $base");
        }
        $this->dir = $base;
    }

    protected function tearDown(): void
    {
        gc_collect_cycles();
        self::removeTree($this->dir);
    }

    public static function libraryPath(): string
    {
        $env = getenv('O365_LIB');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        return dirname(__DIR__, 3) . '/target/debug/libo365.so';
    }

    /** @return array<string, mixed> */
    protected function config(bool $hooks = true, string $store = 'o365.db'): array
    {
        return [
            'store' => $this->dir . '/' . $store,
            'encryption_key' => self::KEY,
            'debug' => ['test_hooks' => $hooks],
        ];
    }

    protected function client(bool $hooks = true, string $store = 'o365.db'): Client
    {
        return new Client($this->config($hooks, $store), self::libraryPath());
    }

    /** @return array<string, mixed> */
    protected static function mailbox(string $address, array $users = ['u1'], ?string $main = null, string $kind = 'user'): array
    {
        return ['address' => $address, 'users' => $users, 'main_user' => $main ?? $users[0], 'kind' => $kind];
    }

    /**
     * The mailboxes of a list result (an array of mailboxes, or ['mailboxes' => [...]]).
     *
     * @param array<mixed> $result
     * @return list<array<string, mixed>>
     */
    protected static function mailboxes(array $result): array
    {
        if (isset($result['mailboxes']) && is_array($result['mailboxes'])) {
            return array_values($result['mailboxes']);
        }
        return array_values($result);
    }

    /** @param list<array<string, mixed>> $boxes @return list<string> */
    protected static function addresses(array $boxes): array
    {
        $a = array_map(static fn(array $m): string => (string) $m['address'], $boxes);
        sort($a);
        return $a;
    }

    protected static function removeTree(string $path): void
    {
        if (!file_exists($path) && !is_link($path)) {
            return;
        }
        if (is_dir($path) && !is_link($path)) {
            foreach (scandir($path) ?: [] as $e) {
                if ($e !== '.' && $e !== '..') {
                    self::removeTree("$path/$e");
                }
            }
            @rmdir($path);
        } else {
            @unlink($path);
        }
    }

    /**
     * Runs PHP code in a fresh PHP process (with the autoloader loaded) and returns
     * [exit code, output].
     *
     * @param list<string> $phpArgs extra php options, e.g. ['-d', 'ffi.enable=0']
     * @return array{0: int, 1: string}
     */
    protected static function runPhp(string $code, array $phpArgs = []): array
    {
        $autoload = dirname(__DIR__) . '/autoload.php';
        $script = '<?php require ' . var_export($autoload, true) . ";\n" . $code;
        $file = tempnam(sys_get_temp_dir(), 'o365-php-');
        file_put_contents($file, $script);
        $cmd = escapeshellarg(PHP_BINARY);
        foreach ($phpArgs as $a) {
            $cmd .= ' ' . escapeshellarg($a);
        }
        $cmd .= ' ' . escapeshellarg($file) . ' 2>&1';
        exec($cmd, $lines, $rc);
        unlink($file);
        return [$rc, implode("\n", $lines)];
    }
}
