<?php

declare(strict_types=1);

namespace O365\Tests\Support;

/**
 * Python's jsonschema (Debian python3-jsonschema) as the independent opinion the PHP validator
 * is checked against: runs tests/fixtures/schema_cases.py and returns its verdicts.
 */
final class Jsonschema
{
    public static function script(): string
    {
        return dirname(__DIR__, 4) . '/tests/fixtures/schema_cases.py';
    }

    /**
     * @param list<string> $args the script's arguments (a cases file, or --instances FILE)
     * @return list<bool> one verdict per case / item, in order
     */
    public static function verdicts(array $args): array
    {
        $p = proc_open(array_merge(['python3', self::script()], $args), [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        if (!is_resource($p)) {
            throw new \RuntimeException('cannot run python3');
        }
        $out = (string) stream_get_contents($pipes[1]);
        $err = (string) stream_get_contents($pipes[2]);
        fclose($pipes[1]);
        fclose($pipes[2]);
        $rc = proc_close($p);
        if ($rc !== 0) {
            throw new \RuntimeException("python3 tests/fixtures/schema_cases.py (python3-jsonschema) failed ($rc): $err");
        }
        return json_decode($out, true, 8, JSON_THROW_ON_ERROR)['results'];
    }
}
