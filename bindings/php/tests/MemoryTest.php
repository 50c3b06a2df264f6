<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\NotFoundException;

/**
 * 10,000 calls must not grow PHP's heap (memory_get_usage) nor leave library strings behind
 * (o365_debug_counters counts strings the binding has not handed back to o365_string_free),
 * and 300 clients opened and freed leave no client alive. Counts, not RSS: the process's
 * memory depends on the allocator and the machine (memory figures belong to `make bench`).
 */
final class MemoryTest extends TestCase
{
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

        for ($i = 0; $i < 1000; $i++) { // warm up: PHP's caches
            $round($i);
        }
        gc_collect_cycles();
        $mem0 = memory_get_usage();
        $strings0 = $o365->debugCounters()['strings_outstanding'];
        for ($i = 0; $i < 10000; $i++) {
            $round($i);
        }
        gc_collect_cycles();
        $memGrowth = memory_get_usage() - $mem0;

        self::assertLessThan(64 * 1024, $memGrowth, "PHP heap grew by $memGrowth bytes over 10,000 calls");
        self::assertSame(0, $strings0, 'no string outstanding between calls');
        self::assertSame(0, $o365->debugCounters()['strings_outstanding'],
            'every result and error document of 11,000 calls was freed');
    }

    public function testClientsAreFreed(): void
    {
        $config = $this->config();
        gc_collect_cycles(); // clients of earlier tests are gone before counting
        $probe = new \O365\Client($config, self::libraryPath());
        $alive0 = $probe->debugCounters()['clients_alive'];
        $mem0 = memory_get_usage();
        for ($i = 0; $i < 300; $i++) {
            $c = new \O365\Client($config, self::libraryPath());
            $c->listMailboxes();
            unset($c);
        }
        gc_collect_cycles();
        self::assertLessThan(64 * 1024, memory_get_usage() - $mem0);
        $counters = $probe->debugCounters();
        self::assertSame($alive0, $counters['clients_alive'], '300 clients opened and freed');
        self::assertSame(0, $counters['strings_outstanding']);
    }
}
