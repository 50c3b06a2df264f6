<?php
// Run by scripts/bench_php_client.sh: median and p90 per step, in milliseconds.
declare(strict_types=1);
require __DIR__ . '/../bindings/php/autoload.php';

$n = max(10, (int) ($argv[1] ?? 300));
$lib = (string) getenv('O365_LIB');
$store = (string) getenv('STORE');
$key = base64_encode(str_repeat("\x01", 32));

function stats(string $what, array $ms): void
{
    sort($ms);
    $p = static fn (float $q): float => $ms[min(count($ms) - 1, (int) floor($q * count($ms)))];
    printf("%-58s median %7.3f ms   p90 %7.3f ms\n", $what, $p(0.5), $p(0.9));
}

function timed(callable $f): float
{
    $t = hrtime(true);
    $f();
    return (hrtime(true) - $t) / 1e6;
}

$decls = (string) preg_replace('/^[ \t]*#.*$/m', '', (string) file_get_contents(O365\Library::headerPath($lib)));
$config = ['store' => $store, 'encryption_key' => $key];
// the store exists and is migrated, as in production
(new O365\Client($config, $lib))->importMailbox(['address' => 'anna@contoso.example', 'users' => ['u1']]);

$reset = static function (): void {
    $p = new ReflectionProperty(O365\Library::class, 'ffi');
    $p->setAccessible(true);
    $p->setValue(null, []);
};
$r = ['cdef' => [], 'off' => [], 'on' => [], 'call' => [], 'request' => []];
for ($i = 0; $i < $n; $i++) {
    $r['cdef'][] = timed(static fn () => FFI::cdef($decls, $lib));
    $r['off'][] = timed(static function () use ($config, $lib): void {
        $c = new O365\Client($config + ['sync' => ['scheduler' => false]], $lib);
        $c->close();
    });
    $r['on'][] = timed(static function () use ($config, $lib): void {
        $c = new O365\Client($config, $lib);
        $c->close();
    });
    $c = new O365\Client($config + ['sync' => ['scheduler' => false]], $lib);
    $r['call'][] = timed(static fn () => $c->listMailboxes(['user' => 'u1']));
    $c->close();
    // a whole request: nothing loaded yet, declarations, client, one call, free
    $reset();
    $r['request'][] = timed(static function () use ($config, $lib): void {
        $c = new O365\Client($config + ['sync' => ['scheduler' => false]], $lib);
        $c->listMailboxes(['user' => 'u1']);
        $c->close();
    });
}
printf("libo365 %s, %d iterations, PHP %s\n", O365\Library::version($lib), $n, PHP_VERSION);
stats('declarations: FFI::cdef(o365_php.h)', $r['cdef']);
stats('o365_client_new + free, sync.scheduler off', $r['off']);
stats('o365_client_new + free, sync.scheduler on (default)', $r['on']);
stats('listMailboxes on an open client', $r['call']);
stats('per request: declarations + client (scheduler off) + call', $r['request']);
