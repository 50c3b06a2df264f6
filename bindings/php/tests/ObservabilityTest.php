<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\ActivityWorker;
use O365\Client;
use O365\Psr3LogBridge;

/** A PSR-3 compatible logger that keeps what it was given. */
final class MemoryLogger
{
    /** @var list<array{0: string, 1: string, 2: array<string, mixed>}> */
    public array $lines = [];

    /** @param array<string, mixed> $context */
    public function log($level, $message, array $context = []): void
    {
        $this->lines[] = [(string) $level, (string) $message, $context];
    }
}

/**
 * Logs pulled into a PSR-3 logger, Prometheus metrics compared with the sim's counters,
 * filtered event consumers in two processes, and an ActivityWorker that leaves other kinds
 * of events alone (issue 15).
 */
final class ObservabilityTest extends SimTestCase
{
    /**
     * Parses Prometheus' text exposition format into ['name{labels}' => value].
     *
     * @return array<string, float>
     */
    private static function parsePrometheus(string $text): array
    {
        $samples = [];
        foreach (explode("\n", $text) as $line) {
            if ($line === '' || str_starts_with($line, '# HELP ') || str_starts_with($line, '# TYPE ')) {
                continue;
            }
            self::assertMatchesRegularExpression(
                '/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\]|\\\\.)*",?)*\})? \S+$/', $line);
            $cut = strrpos($line, ' ');
            $value = substr($line, $cut + 1);
            $samples[substr($line, 0, $cut)] = $value === '+Inf' ? INF : (float) $value;
        }
        return $samples;
    }

    public function testLogsReachAPsr3LoggerAndMetricsMatchTheSim(): void
    {
        $config = $this->simConfig();
        $config['log'] = ['level' => 'info', 'buffer' => 1000];
        $config['sync'] = ['scheduler' => false];
        $c = new Client($config, self::libraryPath());
        $id = $this->signedIn($c);
        $sync = $c->sync(['mailbox' => $id, 'user' => 'u1']);
        self::assertSame($sync['run'], $sync['sync_id']);
        $c->send(['mailbox' => $id, 'user' => 'u1',
            'message' => ['to' => ['kunde@kunden.example'], 'subject' => 'Hallo', 'body_text' => 'x']]);

        $logger = new MemoryLogger();
        $bridge = new Psr3LogBridge($c, $logger);
        $n = $bridge->pump();
        self::assertSame(count($logger->lines), $n);
        $messages = array_map(fn ($l) => $l[1], $logger->lines);
        foreach (['sign-in started', 'sign-in completed', 'sync round finished', 'send sent'] as $m) {
            self::assertContains($m, $messages, implode(', ', $messages));
        }
        $round = $logger->lines[array_search('sync round finished', $messages, true)];
        self::assertSame('info', $round[0]);
        self::assertSame($id, $round[2]['mailbox']);
        self::assertSame($sync['sync_id'], $round[2]['sync_id']);
        self::assertIsInt($round[2]['duration_ms']);
        self::assertSame(0, $bridge->pump(), 'records are taken once');

        $samples = self::parsePrometheus($c->metricsPrometheus());
        $counters = $this->simGet('/_sim/counters');
        $simGraph = 0;
        foreach ($counters['requestsPerRoute'] as $route => $count) {
            if (str_contains($route, ' /v1.0/')) {
                $simGraph += $count;
            }
        }
        $ours = 0;
        foreach ($samples as $series => $v) {
            if (str_starts_with($series, 'o365_graph_requests_total{')) {
                $ours += $v;
            }
        }
        self::assertSame((float) $simGraph, (float) $ours);
        self::assertSame(1.0, $samples['o365_sends_total{outcome="sent"}']);
        self::assertSame(1.0, $samples['o365_outbox_entries{state="sent"}']);
        self::assertSame((float) $simGraph, $samples['o365_graph_request_duration_seconds_bucket{le="+Inf"}']);
        self::assertArrayHasKey('o365_sync_lag_seconds{mailbox="' . $id . '",address="' . self::ANNA . '"}', $samples);
        $json = $c->metrics();
        self::assertContains('o365_graph_requests_total', array_column($json['metrics'], 'name'));
    }

    public function testFilteredConsumersInTwoProcessesEachSeeOnlyTheirKindsOnce(): void
    {
        if (!function_exists('pcntl_fork')) {
            self::markTestSkipped('pcntl is not available');
        }
        $config = $this->config();
        $c = new Client($config, self::libraryPath());
        $box = $c->importMailbox(self::mailbox('anna@contoso.example'))['id'];
        $want = ['activity' => [], 'other' => []];
        for ($i = 0; $i < 20; $i++) {
            $type = ['activity', 'sync_progress', 'send_failed', 'reauth_required'][$i % 4];
            $ev = $c->debugEmitEvent(['type' => $type, 'mailbox' => $box, 'payload' => ['n' => $i]]);
            $want[$type === 'activity' ? 'activity' : 'other'][] = $ev['id'];
        }
        $c->close();
        $resultFile = $this->dir . '/child.json';

        $pid = pcntl_fork();
        self::assertNotSame(-1, $pid, 'fork failed');
        if ($pid === 0) {
            $got = [];
            try {
                $child = new Client($config, self::libraryPath());
                while (($e = $child->nextEventFiltered(['types' => ['activity']], 300)) !== null) {
                    $got[] = [$e['id'], $e['type']];
                    $child->ackEvent($e['id']);
                }
                $child->close();
            } catch (\Throwable $e) {
                $got = get_class($e) . ': ' . $e->getMessage();
            }
            file_put_contents($resultFile, json_encode($got));
            pcntl_exec('/bin/sh', ['-c', 'exit 0']);
            exit(1);
        }
        $parent = new Client($config, self::libraryPath());
        $mine = [];
        $filter = ['types' => ['sync_progress', 'send_failed', 'reauth_required'], 'mailbox' => $box];
        while (($e = $parent->nextEventFiltered($filter, 300)) !== null) {
            $mine[] = [$e['id'], $e['type']];
            $parent->ackEvent($e['id']);
        }
        $status = 0;
        self::assertSame($pid, pcntl_waitpid($pid, $status));
        self::assertSame(0, pcntl_wexitstatus($status));
        $theirs = json_decode((string) file_get_contents($resultFile), true);
        self::assertIsArray($theirs, (string) file_get_contents($resultFile));

        self::assertSame(['activity'], array_values(array_unique(array_column($theirs, 1))));
        self::assertNotContains('activity', array_column($mine, 1));
        $ids = fn (array $l) => array_column($l, 0);
        self::assertSame($want['activity'], $ids($theirs), 'each activity once, in order');
        self::assertSame($want['other'], $ids($mine), 'each other event once, in order');
        self::assertNull($parent->nextEvent(0), 'nothing left');
    }

    public function testActivityWorkerLeavesOtherEventsUnacked(): void
    {
        $c = $this->client();
        $box = $c->importMailbox(self::mailbox('anna@contoso.example'))['id'];
        $reauth = $c->debugEmitEvent(['type' => 'reauth_required', 'mailbox' => $box, 'payload' => []])['id'];
        $activity = $c->debugEmitEvent(['type' => 'activity', 'mailbox' => $box, 'payload' => ['subject' => 's']])['id'];
        $failed = $c->debugEmitEvent(['type' => 'send_failed', 'mailbox' => $box, 'payload' => []])['id'];
        $booked = [];
        $n = (new ActivityWorker($c, function (array $a) use (&$booked): void {
            $booked[] = $a['id'];
        }))->run(0);
        self::assertSame(1, $n);
        self::assertSame([$activity], $booked);
        $left = $c->nextEvent(0);
        self::assertSame($reauth, $left['id']);
        self::assertFalse($left['redelivered'], 'never handed out before');
        $c->ackEvent($left['id']);
        self::assertSame($failed, $c->nextEvent(0)['id']);

        // With a handler for the others, every event is handled, then acked.
        $c->debugEmitEvent(['type' => 'sync_failed', 'mailbox' => $box, 'payload' => []]);
        $others = [];
        (new ActivityWorker($c, fn () => null, function (array $e) use (&$others): void {
            $others[] = $e['type'];
        }))->run(0);
        self::assertSame(['sync_failed'], $others);
    }
}
