<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\ForkedException;

/**
 * The PHP-FPM / pcntl_fork() case: a Client created before fork() throws ForkedException in
 * the child, a new Client in the child works, destroying the inherited Client in the child is
 * safe, and the parent is unaffected.
 */
final class ForkTest extends TestCase
{
    public function testForkedChild(): void
    {
        if (!function_exists('pcntl_fork')) {
            self::markTestSkipped('pcntl is not available');
        }
        $parent = $this->client();
        $parent->importMailbox(self::mailbox('parent@contoso.example'));
        $resultFile = $this->dir . '/child.json';

        $pid = pcntl_fork();
        self::assertNotSame(-1, $pid, 'fork failed');
        if ($pid === 0) {
            $r = ['forked_status' => null, 'forked_message' => '', 'new_client' => null, 'destroyed' => false];
            try {
                $parent->listMailboxes();
                $r['forked_status'] = 0;
            } catch (ForkedException $e) {
                $r['forked_status'] = $e->getStatus();
                $r['forked_message'] = $e->getMessage();
            } catch (\Throwable $e) {
                $r['forked_status'] = get_class($e) . ': ' . $e->getMessage();
            }
            try {
                $child = new Client($this->config(), self::libraryPath());
                $child->importMailbox(self::mailbox('child@contoso.example'));
                $r['new_client'] = self::addresses(self::mailboxes($child->listMailboxes()));
                $child->close();
            } catch (\Throwable $e) {
                $r['new_client'] = get_class($e) . ': ' . $e->getMessage();
            }
            $parent->close(); // the inherited handle: must neither hang nor crash
            $r['destroyed'] = true;
            file_put_contents($resultFile, json_encode($r));
            // leave without PHP's shutdown (PHPUnit's handlers belong to the parent)
            pcntl_exec('/bin/sh', ['-c', 'exit 0']);
            exit(1);
        }

        // the parent keeps working while the child runs
        // (the child may or may not have imported child@ yet)
        self::assertContains('parent@contoso.example', self::addresses(self::mailboxes($parent->listMailboxes())));
        $status = 0;
        $waited = pcntl_waitpid($pid, $status);
        self::assertSame($pid, $waited);
        self::assertTrue(pcntl_wifexited($status), 'child did not exit normally');
        self::assertSame(0, pcntl_wexitstatus($status));

        $r = json_decode((string) @file_get_contents($resultFile), true);
        self::assertIsArray($r, 'child wrote no result');
        self::assertSame(13, $r['forked_status'], 'inherited client in the child: ForkedException');
        self::assertStringContainsStringIgnoringCase('fork', $r['forked_message']);
        self::assertSame(['child@contoso.example', 'parent@contoso.example'], $r['new_client']);
        self::assertTrue($r['destroyed']);

        self::assertSame(['child@contoso.example', 'parent@contoso.example'],
            self::addresses(self::mailboxes($parent->listMailboxes())));
    }
}
