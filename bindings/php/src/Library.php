<?php

declare(strict_types=1);

namespace O365;

/**
 * Loads libo365.so through PHP FFI, lazily, once per library path and process.
 *
 * Which library: the path given to Client / Library::get(), else the environment variable
 * O365_LIB, else "libo365.so.<ABI_VERSION>" from the system's library search path (ldconfig,
 * LD_LIBRARY_PATH), else <libdir>/libo365.so.<ABI_VERSION> of `pkg-config o365`.
 * Which declarations: the environment variable O365_PHP_HEADER, else the copy installed with
 * this binding (include/o365_php.h beside src/), else include/o365_php.h of the package this
 * binding sits in (the source tree, or vendor/o365/o365 under Composer), else the include/
 * beside the library's lib/ directory, else /usr/local/include or /usr/include.
 *
 * PHP-FPM with ffi.enable=preload: call Library::preload() from the opcache.preload script.
 * It compiles the O365 classes into the preloaded code (with ffi.enable=preload the only
 * code outside the CLI allowed to use FFI) and checks the library and its declarations once
 * at startup. Each request still loads the declarations (FFI::cdef) on its first Client:
 * PHP resets static state between requests. (FFI::load into a preloaded scope is refused
 * by PHP when opcache.preload_user is set, which FPM needs when its master runs as root.)
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
        $key = $libraryPath ?? '';
        if (isset(self::$ffi[$key])) {
            return self::$ffi[$key];
        }
        self::checkExtension();
        $path = self::resolve($libraryPath);
        return self::$ffi[$key] = self::load($path);
    }

    /**
     * For the opcache.preload script (php.ini: opcache.preload=/path/to/preload.php,
     * opcache.preload_user, ffi.enable=preload):
     *
     *     require '/path/to/vendor/autoload.php';        // or bindings/php/autoload.php
     *     O365\Library::preload();                       // or preload('/opt/o365/lib/libo365.so.1')
     *
     * Compiles every O365 class into the preloaded code, so that with ffi.enable=preload the
     * binding may use FFI in requests, and loads the library and its declarations once to
     * fail at startup rather than in a request (missing library, wrong ABI, missing header).
     * Requests then create their O365\Client as usual, finding the library the same way (or
     * pass the path returned here). Create no Client in the preload script: it runs in the
     * FPM master, before the fork.
     *
     * @return string the library path that was loaded
     * @throws LoadException
     */
    public static function preload(?string $libraryPath = null): string
    {
        self::checkExtension();
        foreach (glob(__DIR__ . '/*.php') ?: [] as $file) {
            $class = __NAMESPACE__ . '\\' . basename($file, '.php');
            if (class_exists($class, false)) {
                continue; // already compiled by this script's autoloader
            }
            if (function_exists('opcache_compile_file') && (bool) ini_get('opcache.enable')) {
                @opcache_compile_file($file);
            } else {
                require_once $file;
            }
        }
        $path = self::resolve($libraryPath);
        self::load($path);
        return $path;
    }

    /**
     * The library file to load: the argument, else O365_LIB, else the soname from the
     * system's library path, else pkg-config's libdir.
     */
    private static function resolve(?string $libraryPath): string
    {
        $path = self::libraryPath($libraryPath);
        if ($path !== self::soname()) {
            return $path;
        }
        try {
            \FFI::cdef('uint32_t o365_abi_version(void);', $path);
            return $path;
        } catch (\FFI\Exception $e) {
            $fromPkgConfig = self::pkgConfigLibrary();
            if ($fromPkgConfig !== null) {
                return $fromPkgConfig;
            }
            return $path; // load() reports the failure with its hint
        }
    }

    /** <libdir>/libo365.so.N of `pkg-config o365`, when that file exists. */
    private static function pkgConfigLibrary(): ?string
    {
        if (!function_exists('proc_open')) {
            return null;
        }
        $proc = @proc_open(['pkg-config', '--variable=libdir', 'o365'], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        if (!is_resource($proc)) {
            return null;
        }
        $libdir = trim((string) stream_get_contents($pipes[1]));
        fclose($pipes[1]);
        fclose($pipes[2]);
        if (proc_close($proc) !== 0 || $libdir === '') {
            return null;
        }
        $file = $libdir . '/' . self::soname();
        return is_file($file) ? $file : null;
    }

    /** The soname this binding loads from the system's library path: libo365.so.<ABI_VERSION>. */
    public static function soname(): string
    {
        return 'libo365.so.' . self::ABI_VERSION;
    }

    /**
     * Probes the ABI version, then loads every declaration.
     *
     * @throws LoadException
     */
    private static function load(string $path): \FFI
    {
        try {
            $probe = \FFI::cdef('const char *o365_version(void); uint32_t o365_abi_version(void);', $path);
        } catch (\FFI\Exception $e) {
            if (stripos($e->getMessage(), 'ffi.enable') !== false) {
                throw new LoadException(
                    sprintf('o365: PHP FFI is restricted (ffi.enable=%s) and cannot load libo365 here: %s',
                        (string) ini_get('ffi.enable'), $e->getMessage()),
                    'Set ffi.enable=1, or call O365\Library::preload() from your opcache.preload script '
                    . '(ffi.enable=preload allows FFI only in preloaded code and in the CLI); '
                    . 'create the clients in the requests, not in the preload script.',
                    $e
                );
            }
            throw new LoadException(
                sprintf('o365: cannot load the library "%s": %s', $path, $e->getMessage()),
                sprintf('Install it (make install, or the libo365 Debian package) so that %s is on the '
                    . 'library path or known to pkg-config, or pass its path to O365\Client / '
                    . 'O365\Library::preload(), or set O365_LIB=/path/to/libo365.so.', self::soname()),
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

        $header = self::headerPath($path);
        $decls = @file_get_contents($header);
        if ($decls === false) {
            throw new LoadException(
                sprintf('o365: cannot read the declaration file "%s"', $header),
                'Set O365_PHP_HEADER=/path/to/o365_php.h (it is generated beside o365.h by the library build).'
            );
        }
        // FFI::cdef takes no preprocessor lines (#define FFI_SCOPE / FFI_LIB are for FFI::load)
        $decls = (string) preg_replace('/^[ \t]*#.*$/m', '', $decls);
        try {
            return \FFI::cdef($decls, $path);
        } catch (\FFI\Exception | \FFI\ParserException $e) {
            throw new LoadException(
                sprintf('o365: cannot load the declarations "%s" for "%s": %s', $header, $path, $e->getMessage()),
                null,
                $e
            );
        }
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
        return self::soname();
    }

    /** The declaration file for the library at $libraryPath (see the class comment). */
    public static function headerPath(?string $libraryPath = null): string
    {
        $env = getenv('O365_PHP_HEADER');
        if (is_string($env) && $env !== '') {
            return $env;
        }
        $candidates = [
            dirname(__DIR__) . '/include/o365_php.h',    // installed with this binding (make install)
            dirname(__DIR__, 3) . '/include/o365_php.h', // the package root: source tree or vendor/o365/o365
        ];
        if ($libraryPath !== null && str_contains($libraryPath, '/')) {
            $real = realpath($libraryPath);
            $candidates[] = dirname($real !== false ? $real : $libraryPath, 2) . '/include/o365_php.h';
        }
        $candidates[] = '/usr/local/include/o365_php.h';
        $candidates[] = '/usr/include/o365_php.h';
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
