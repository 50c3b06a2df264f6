<?php

declare(strict_types=1);

namespace O365;

/**
 * Loads libo365.so through PHP FFI, lazily, once per library path and process.
 *
 * Which library: the path given to Client / Library::get(), else the environment variable
 * O365_LIB, else "libo365.so" from the system's library search path.
 * Which declarations: the environment variable O365_PHP_HEADER, else include/o365_php.h of
 * the source tree this binding sits in, else /usr/local/include or /usr/include/o365_php.h.
 *
 * Before loading all declarations a two-function probe checks o365_abi_version() against
 * ABI_VERSION, so a mismatched library is refused with a clear message instead of crashing.
 */
final class Library
{
    /** The C ABI version this binding was written for (O365_ABI_VERSION). */
    public const ABI_VERSION = 1;

    /** @var array<string, \FFI> */
    private static array $ffi = [];

    private function __construct()
    {
    }

    /**
     * The FFI instance for the library (loaded on first use).
     *
     * @throws LoadException
     */
    public static function get(?string $libraryPath = null): \FFI
    {
        $path = self::libraryPath($libraryPath);
        if (isset(self::$ffi[$path])) {
            return self::$ffi[$path];
        }
        self::checkExtension();

        try {
            $probe = \FFI::cdef('const char *o365_version(void); uint32_t o365_abi_version(void);', $path);
        } catch (\FFI\Exception $e) {
            if (stripos($e->getMessage(), 'ffi.enable') !== false) {
                throw new LoadException(
                    sprintf('o365: PHP FFI is restricted (ffi.enable=%s) and cannot load libo365 here: %s',
                        (string) ini_get('ffi.enable'), $e->getMessage()),
                    'Set ffi.enable=1, or create the first O365\Client from your opcache.preload script '
                    . '(ffi.enable=preload allows FFI only while preloading and in the CLI).',
                    $e
                );
            }
            throw new LoadException(
                sprintf('o365: cannot load the library "%s": %s', $path, $e->getMessage()),
                'Build it with `make lib` and pass its path to O365\Client or set O365_LIB=/path/to/libo365.so.',
                $e
            );
        }
        $abi = (int) $probe->o365_abi_version();
        if ($abi !== self::ABI_VERSION) {
            throw new LoadException(
                sprintf(
                    'o365: library "%s" (version %s) has C ABI version %d, this PHP binding needs %d',
                    $path,
                    (string) $probe->o365_version(),
                    $abi,
                    self::ABI_VERSION
                ),
                'Use the PHP binding shipped with the same release as the library.'
            );
        }

        $header = self::headerPath();
        $decls = @file_get_contents($header);
        if ($decls === false) {
            throw new LoadException(
                sprintf('o365: cannot read the declaration file "%s"', $header),
                'Set O365_PHP_HEADER=/path/to/o365_php.h (it is generated beside o365.h by the library build).'
            );
        }
        // FFI::cdef takes no preprocessor lines (#define FFI_SCOPE / FFI_LIB are for FFI::load)
        $decls = preg_replace('/^[ \t]*#.*$/m', '', $decls);
        try {
            $ffi = \FFI::cdef($decls, $path);
        } catch (\FFI\Exception | \FFI\ParserException $e) {
            throw new LoadException(
                sprintf('o365: cannot load the declarations "%s" for "%s": %s', $header, $path, $e->getMessage()),
                null,
                $e
            );
        }
        return self::$ffi[$path] = $ffi;
    }

    /** The library's version string, e.g. "0.1.0". */
    public static function version(?string $libraryPath = null): string
    {
        return (string) self::get($libraryPath)->o365_version();
    }

    /** The library's C ABI version (must equal ABI_VERSION once loaded). */
    public static function abiVersion(?string $libraryPath = null): int
    {
        return (int) self::get($libraryPath)->o365_abi_version();
    }

    public static function libraryPath(?string $libraryPath = null): string
    {
        if ($libraryPath !== null && $libraryPath !== '') {
            return $libraryPath;
        }
        $env = getenv('O365_LIB');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        return 'libo365.so';
    }

    public static function headerPath(): string
    {
        $env = getenv('O365_PHP_HEADER');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        $candidates = [
            dirname(__DIR__, 3) . '/include/o365_php.h', // this source tree
            '/usr/local/include/o365_php.h',
            '/usr/include/o365_php.h',
        ];
        foreach ($candidates as $file) {
            if (is_file($file)) {
                return $file;
            }
        }
        return $candidates[0];
    }

    /**
     * @throws LoadException when FFI cannot be used in this PHP
     */
    private static function checkExtension(): void
    {
        if (!extension_loaded('ffi') || !class_exists(\FFI::class, false)) {
            throw new LoadException(
                'o365: the PHP FFI extension is not loaded, so libo365 cannot be used from this PHP.',
                'Install/enable it (Debian: it is part of php-cli/php-common; php.ini: extension=ffi) and set ffi.enable=1.'
            );
        }
        $enable = strtolower((string) ini_get('ffi.enable'));
        if (in_array($enable, ['', '0', 'false', 'off', 'no'], true)) {
            throw new LoadException(
                sprintf('o365: PHP FFI is disabled (ffi.enable=%s), so libo365 cannot be loaded.', ini_get('ffi.enable')),
                'Set ffi.enable=1 in php.ini (or run php -d ffi.enable=1); with ffi.enable=preload, '
                . 'load the library from an opcache.preload script.'
            );
        }
    }
}
