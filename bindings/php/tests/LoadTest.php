<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\LoadException;

/** Loading problems give one clear message instead of a fatal error. */
final class LoadTest extends TestCase
{
    private function clientCode(): string
    {
        return sprintf(
            'try { new O365\Client(["store" => %s], %s); echo "LOADED"; }'
            . ' catch (O365\LoadException $e) { echo get_class($e), ": ", $e->getMessage(); exit(3); }',
            var_export($this->dir . '/x.db', true),
            var_export(self::libraryPath(), true)
        );
    }

    public function testFfiDisabled(): void
    {
        [$rc, $out] = self::runPhp($this->clientCode(), ['-d', 'ffi.enable=0']);
        self::assertSame(3, $rc, $out);
        self::assertStringContainsString('O365\LoadException', $out);
        self::assertStringContainsString('ffi.enable', $out);
    }

    public function testFfiExtensionMissing(): void
    {
        // -n: no php.ini, so no conf.d/20-ffi.ini (Debian builds FFI as a shared module)
        [$rc, $out] = self::runPhp('if (extension_loaded("ffi")) { echo "SKIP"; exit(0); }' . "\n" . $this->clientCode(), ['-n']);
        if ($out === 'SKIP') {
            self::markTestSkipped('FFI is built into this PHP; cannot unload it');
        }
        self::assertSame(3, $rc, $out);
        self::assertStringContainsString('FFI extension is not loaded', $out);
    }

    public function testFfiEnabledLoads(): void
    {
        [$rc, $out] = self::runPhp($this->clientCode(), ['-d', 'ffi.enable=1']);
        self::assertSame(0, $rc, $out);
        self::assertSame('LOADED', $out);
    }

    public function testDeclarationFileMissing(): void
    {
        [$rc, $out] = self::runPhp('putenv("O365_PHP_HEADER=/nonexistent/o365_php.h");' . "\n" . $this->clientCode());
        self::assertSame(3, $rc, $out);
        self::assertStringContainsString('cannot read the declaration file "/nonexistent/o365_php.h"', $out);
        self::assertStringContainsString('O365_PHP_HEADER', $out);
    }

    public function testLibraryNotFound(): void
    {
        try {
            new Client(['store' => $this->dir . '/x.db'], $this->dir . '/nope/libo365.so');
            self::fail('must not load');
        } catch (LoadException $e) {
            self::assertStringContainsString('cannot load the library', $e->getMessage());
            self::assertStringContainsString('O365_LIB', $e->getMessage());
            self::assertSame(-1, $e->getStatus());
        }
    }

    public function testAbiMismatchIsRefused(): void
    {
        $cc = trim((string) shell_exec('command -v cc'));
        if ($cc === '') {
            self::markTestSkipped('no C compiler');
        }
        $src = $this->dir . '/fake.c';
        $lib = $this->dir . '/libfake.so';
        file_put_contents($src, "#include <stdint.h>\nconst char *o365_version(void) { return \"9.9.9\"; }\n"
            . "uint32_t o365_abi_version(void) { return 999; }\n");
        exec(sprintf('%s -shared -fPIC -o %s %s 2>&1', escapeshellarg($cc), escapeshellarg($lib), escapeshellarg($src)), $o, $rc);
        self::assertSame(0, $rc, implode("\n", $o));
        try {
            new Client(['store' => $this->dir . '/x.db'], $lib);
            self::fail('a library with another ABI version must be refused');
        } catch (LoadException $e) {
            self::assertStringContainsString('ABI version 999', $e->getMessage());
            self::assertStringContainsString('needs 1', $e->getMessage());
        }
    }
}
