<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\NotFoundException;

/**
 * 10,000 calls must not grow PHP's heap (memory_get_usage) nor the process (RSS: catches
 * strings the binding forgets to hand back to o365_string_free).
 */
final class MemoryTest extends TestCase
{
    private static function rssKiB(): int
    {
        $status = @file_get_contents('/proc/self/status');
        if ($status !== false && preg_match('/^VmRSS:\s+(\d+) kB/m', $status, $m)) {
            return (int) $m[1];
        }
        return 0;
    }

    public function testTenThousandCallsDoNotLeak(): void
    {
        $o365 = $this->client();
        for ($i = 0; $i < 10; $i++) {
            $o365->importMailbox(self::mailbox("user$i@contoso.example", ['u1', 'u2', 'u3'], 'u1'));
        }
        $round = function (int $i) use ($o365): void {
            // a ~3 KB result
            $list = $o365->listMailboxes(['user' => 'u1']);
            if (count(self::mailboxes($list)) !== 10) {
                self::fail('list returned ' . json_encode($list));
            }
            // and an error path every tenth call (exception + error document)
            if ($i % 10 === 0) {
                try {
                    $o365->getMailbox(['mailbox' => 'ghost@contoso.example', 'user' => 'u1']);
                } catch (NotFoundException $e) {
                }
            }
        };

        for ($i = 0; $i < 1000; $i++) { // warm up: caches, allocator arenas
            $round($i);
        }
        gc_collect_cycles();
        $mem0 = memory_get_usage();
        $rss0 = self::rssKiB();
        for ($i = 0; $i < 10000; $i++) {
            $round($i);
        }
        gc_collect_cycles();
        $memGrowth = memory_get_usage() - $mem0;
        $rssGrowthKiB = self::rssKiB() - $rss0;

        self::assertLessThan(64 * 1024, $memGrowth, "PHP heap grew by $memGrowth bytes over 10,000 calls");
        if ($rss0 > 0) {
            // a leaked result string would be ~3 KB x 10,000 = ~30 MB
            self::assertLessThan(8 * 1024, $rssGrowthKiB, "RSS grew by $rssGrowthKiB KiB over 10,000 calls");
        }
    }

    public function testClientsAreFreed(): void
    {
        $config = $this->config();
        for ($i = 0; $i < 50; $i++) {
            $c = new \O365\Client($config, self::libraryPath());
            $c->listMailboxes();
            unset($c);
        }
        gc_collect_cycles();
        $mem0 = memory_get_usage();
        $rss0 = self::rssKiB();
        for ($i = 0; $i < 300; $i++) {
            $c = new \O365\Client($config, self::libraryPath());
            $c->listMailboxes();
            unset($c);
        }
        gc_collect_cycles();
        self::assertLessThan(64 * 1024, memory_get_usage() - $mem0);
        if ($rss0 > 0) {
            self::assertLessThan(16 * 1024, self::rssKiB() - $rss0, '300 clients opened and freed');
        }
    }
}
