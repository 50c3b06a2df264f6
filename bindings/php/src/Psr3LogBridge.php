<?php

declare(strict_types=1);

namespace O365;

/**
 * Hands the library's log records to a PSR-3 logger. The library never calls back into PHP:
 * the records wait in the client's buffer (config `'log' => ['level' => 'info', 'buffer' =>
 * 1000]`) until pump() pulls them (o365_take_logs), e.g. at the end of each request or in a
 * worker loop.
 *
 *     $bridge = new O365\Psr3LogBridge($o365, $monolog);   // any Psr\Log\LoggerInterface
 *     ... $bridge->pump();
 *
 * Any object with a PSR-3 `log($level, $message, array $context)` method is accepted, so
 * psr/log need not be installed. Each record becomes one call: the level (`warn` becomes
 * `warning`, `trace` becomes `debug`), the message, and every other field (`ts`, `target`,
 * `client`, `mailbox`, `request_id`, `route`, `status`, `duration_ms`, ...) as context.
 * When the buffer overflowed since the last pump, one `warning` says how many were lost.
 */
final class Psr3LogBridge
{
    private const LEVELS = [
        'error' => 'error',
        'warn' => 'warning',
        'info' => 'info',
        'debug' => 'debug',
        'trace' => 'debug',
    ];

    public function __construct(private Client $client, private object $logger)
    {
        if (!method_exists($logger, 'log')) {
            throw new \InvalidArgumentException(
                'the logger must have a PSR-3 log($level, $message, array $context) method');
        }
    }

    /**
     * Forwards up to $max buffered records (oldest first) and returns how many.
     */
    public function pump(int $max = 1000): int
    {
        $sent = 0;
        while ($sent < $max) {
            $batch = $this->client->takeLogs(min(10000, $max - $sent));
            $dropped = (int) ($batch['dropped'] ?? 0);
            if ($dropped > 0) {
                $this->logger->log('warning', 'o365: {dropped} log records were dropped (log.buffer was full)',
                    ['dropped' => $dropped, 'target' => 'o365']);
            }
            $records = $batch['records'] ?? [];
            foreach ($records as $record) {
                $level = self::LEVELS[$record['level'] ?? 'info'] ?? 'info';
                $message = (string) ($record['message'] ?? '');
                unset($record['level'], $record['message']);
                $this->logger->log($level, $message, $record);
                $sent++;
            }
            if ($records === []) {
                break;
            }
        }
        return $sent;
    }
}
