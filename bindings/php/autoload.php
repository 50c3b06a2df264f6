<?php
/**
 * Plain PSR-4 autoloader for the O365 namespace, for hosts (and the tests) that do not use
 * Composer: `require '/path/to/bindings/php/autoload.php';`
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'O365\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $relative = substr($class, strlen($prefix));
    if (strncmp($relative, 'Tests\\', 6) === 0) {
        $file = __DIR__ . '/tests/' . str_replace('\\', '/', substr($relative, 6)) . '.php';
    } else {
        $file = __DIR__ . '/src/' . str_replace('\\', '/', $relative) . '.php';
    }
    if (is_file($file)) {
        require $file;
    }
});
