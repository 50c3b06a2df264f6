<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\ForbiddenException;
use O365\InvalidArgumentException;
use O365\PolicyViolationException;

/**
 * o365_send from PHP against o365-sim (issue 6): a mailbox signed in through the sim's own
 * sign-in page, a mail to 10 recipients that the sim's recipients receive, 11 recipients
 * refused with the macro hint, header injection refused, and a download link served.
 */
final class SendTest extends SimTestCase
{
    private function sendClient(): Client
    {
        $config = $this->simConfig();
        $config['links'] = ['base_url' => 'https://crm.example/o365/link?t={token}'];
        return new Client($config, self::libraryPath());
    }

    /** @return list<array<string, mixed>> what the sim's recipients received */
    private function outbound(): array
    {
        return $this->simGet('/_sim/outbound')['messages'];
    }

    /** @return list<string> */
    private static function recipients(string $prefix, int $n): array
    {
        $out = [];
        for ($i = 0; $i < $n; $i++) {
            $out[] = "$prefix$i@kunden.example";
        }
        return $out;
    }

    public function testTenRecipientsAreSentElevenRefusedInjectionRefused(): void
    {
        $c = $this->sendClient();
        $id = $this->signedIn($c);

        $r = self::recipients('php', 10);
        $sent = $c->send(['mailbox' => $id, 'user' => 'u1', 'idempotency_key' => 'php-1', 'message' => [
            'to' => array_slice($r, 0, 4), 'cc' => array_slice($r, 4, 3), 'bcc' => array_slice($r, 7),
            'subject' => 'Angebot aus PHP', 'body_text' => 'Guten Tag',
        ]]);
        self::assertSame('sent', $sent['state']);
        $out = $this->outbound();
        self::assertCount(1, $out);
        self::assertSame($sent['internet_message_id'], $out[0]['internetMessageId']);
        self::assertSame(self::ANNA, $out[0]['from']['address']);
        self::assertCount(4, $out[0]['to']);
        self::assertCount(3, $out[0]['bcc']);
        $status = $c->sendStatus(['mailbox' => $id, 'user' => 'u1', 'idempotency_key' => 'php-1']);
        self::assertSame('sent', $status['state']);

        $r = self::recipients('elf', 11);
        try {
            $c->send(['mailbox' => $id, 'user' => 'u1', 'message' => ['to' => $r, 'subject' => 'x']]);
            self::fail('11 recipients must be refused');
        } catch (PolicyViolationException $e) {
            self::assertSame('too_many_recipients', $e->getErrorKind());
            self::assertStringContainsString('_downloadLink(Text)', (string) $e->getHint());
            self::assertStringContainsString('_agreementLink', (string) $e->getHint());
        }
        try {
            $c->send(['mailbox' => $id, 'user' => 'u1', 'serial_mail' => true,
                      'message' => ['to' => ['a@kunden.example'], 'subject' => 'Newsletter']]);
            self::fail('serial mail must be refused');
        } catch (PolicyViolationException $e) {
            self::assertSame('serial_mail_not_allowed', $e->getErrorKind());
        }
        try {
            $c->send(['mailbox' => $id, 'user' => 'u1',
                      'message' => ['to' => ['a@kunden.example'], 'subject' => "Hallo\r\nBcc: x@kunden.example"]]);
            self::fail('header injection must be refused');
        } catch (InvalidArgumentException $e) {
            self::assertSame('header_injection', $e->getErrorKind());
        }
        self::assertCount(1, $this->outbound(), 'nothing else went out');
    }

    public function testAFailedKeyedSendGoesOutOnceWhenSentAgainAfterTheAdminAllowsAliases(): void
    {
        $c = $this->sendClient();
        $this->simPatch('/_sim/tenants/contoso.example', ['sendFromAliasEnabled' => false]);
        $id = $c->importMailbox(['address' => 'info@contoso.example', 'users' => ['u1'],
                                 'kind' => 'alias', 'alias_of' => self::ANNA])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        $c->authenticate(['callback_url' => $this->signInPage($start['authorize_url'], self::ANNA)]);
        $mail = ['mailbox' => $id, 'user' => 'u1', 'idempotency_key' => 'crm-7',
                 'message' => ['to' => ['kunde@kunden.example'], 'subject' => 'Angebot 7']];
        try {
            $c->send($mail);
            self::fail('the tenant does not allow sending from aliases');
        } catch (ForbiddenException $e) {
            self::assertSame('alias_send_not_enabled', $e->getErrorKind());
            self::assertStringContainsString('Set-OrganizationConfig -SendFromAliasEnabled $true', (string) $e->getHint());
            $sendId = $e->getDetails()['send_id'];
        }
        self::assertCount(0, $this->outbound());
        $this->simPatch('/_sim/tenants/contoso.example', ['sendFromAliasEnabled' => true]);
        $sent = $c->send($mail);
        self::assertSame('sent', $sent['state']);
        self::assertSame($sendId, $sent['send_id']);
        self::assertSame($sendId, $c->send($mail)['send_id'], 'the key now answers with the sent mail');
        $out = $this->outbound();
        self::assertCount(1, $out, 'sent exactly once');
        self::assertSame('info@contoso.example', $out[0]['from']['address']);
    }

    public function testAnAliasSendRewrittenByExchangeReportsThePrimaryAddress(): void
    {
        $c = $this->sendClient();
        // The tenant behaves as public reports describe: SendFromAliasEnabled off, and the
        // mail goes out from the primary address instead of being refused.
        $this->simPatch('/_sim/tenants/contoso.example',
            ['sendFromAliasEnabled' => false, 'aliasSendMode' => 'rewrite']);
        $id = $c->importMailbox(['address' => 'info@contoso.example', 'users' => ['u1'],
                                 'kind' => 'alias', 'alias_of' => self::ANNA])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        $c->authenticate(['callback_url' => $this->signInPage($start['authorize_url'], self::ANNA)]);
        $sent = $c->send(['mailbox' => $id, 'user' => 'u1', 'idempotency_key' => 'crm-8',
                          'message' => ['to' => ['kunde@kunden.example'], 'subject' => 'Angebot 8']]);
        self::assertSame('sent', $sent['state']);
        self::assertSame(self::ANNA, $sent['sent_from'], 'the CRM learns the real sender');
        self::assertFalse($sent['sent_as_requested']);
        self::assertStringContainsString('Set-OrganizationConfig -SendFromAliasEnabled $true', $sent['hint']);
        $status = $c->sendStatus(['mailbox' => $id, 'user' => 'u1', 'idempotency_key' => 'crm-8']);
        self::assertSame(self::ANNA, $status['sent_from']);
        $out = $this->outbound();
        self::assertCount(1, $out);
        self::assertSame(self::ANNA, $out[0]['from']['address']);
    }

    public function testDownloadLinkIsServedToTheHostsPage(): void
    {
        $c = $this->sendClient();
        $id = $this->signedIn($c);
        $sent = $c->send(['mailbox' => $id, 'user' => 'u1', 'message' => [
            'to' => ['kunde@kunden.example'], 'subject' => 'Exposé',
            'body_html' => '<p>_downloadLink(Exposé)</p>',
            'attachments' => [['name' => 'expose.pdf', 'base64' => base64_encode('PDF-Inhalt')]],
        ]]);
        self::assertSame('sent', $sent['state']);
        $mail = $this->outbound()[0];
        self::assertSame([], $mail['attachments']);
        self::assertSame(1, preg_match('/\?t=([A-Za-z0-9_.-]+)"/', $mail['body'], $m), $mail['body']);
        $page = $c->linkOpen(['token' => $m[1]]);
        self::assertSame('download', $page['kind']);
        self::assertSame('expose.pdf', $page['files'][0]['name']);
        $dest = $this->dir . '/download.pdf';
        $c->linkDownload(['token' => $m[1], 'file' => 0, 'path' => $dest, 'client_address' => '192.0.2.1']);
        self::assertSame('PDF-Inhalt', file_get_contents($dest));
    }
}
