<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\InvalidArgumentException;

/**
 * The finished link page from PHP (issue 16): linkPage() answers with HTML or a file stream,
 * linkRead() streams it in bounded pieces, Range requests get 206, an agreement link refuses
 * the file until the accept form (with its anti-forgery token and cookie) was posted.
 */
final class LinkPageTest extends SimTestCase
{
    private function linkClient(): Client
    {
        $config = $this->simConfig();
        $config['links'] = ['base_url' => 'https://crm.example/o365/link?t={token}', 'language' => 'en'];
        return new Client($config, self::libraryPath());
    }

    private function readAll(Client $c, array $stream, int $chunk): string
    {
        $data = '';
        while (($piece = $c->linkRead($stream['id'], strlen($data), $chunk)) !== '') {
            self::assertLessThanOrEqual($chunk, strlen($piece));
            $data .= $piece;
        }
        self::assertSame($stream['length'], strlen($data));
        return $data;
    }

    public function testDownloadPageStreamsFileAndRanges(): void
    {
        $c = $this->linkClient();
        $id = $this->signedIn($c);
        $bytes = random_bytes(300000);
        $r = $c->send(['mailbox' => $id, 'user' => 'u1', 'message' => [
            'to' => ['kunde@kunden.example'], 'subject' => 'Exposé aus PHP', 'body_text' => '_downloadLink(Exposé)',
            'attachments' => [['name' => 'expose.pdf', 'base64' => base64_encode($bytes)]]]]);
        $token = $r['link']['token'];

        $page = $c->linkPage(['method' => 'GET', 'token' => $token, 'accept_language' => 'de-DE']);
        self::assertSame(200, $page['status']);
        self::assertStringContainsString('Exposé aus PHP', $page['body']);
        self::assertStringContainsString('Anna Schmidt', $page['body']);
        self::assertSame('no-referrer', $page['headers']['Referrer-Policy']);

        $file = $c->linkPage(['method' => 'GET', 'token' => $token, 'query' => ['f' => '0']]);
        self::assertSame(200, $file['status']);
        self::assertSame(hash('sha256', $bytes), hash('sha256', $this->readAll($c, $file['stream'], 65536)));
        $part = $c->linkPage(['method' => 'GET', 'token' => $token, 'query' => ['f' => '0'], 'range' => 'bytes=100-199']);
        self::assertSame(206, $part['status']);
        self::assertSame('bytes 100-199/300000', $part['headers']['Content-Range']);
        self::assertSame(substr($bytes, 100, 100), $this->readAll($c, $part['stream'], 7));
        $none = $c->linkPage(['method' => 'GET', 'token' => $token, 'query' => ['f' => '0'], 'range' => 'bytes=300000-']);
        self::assertSame(416, $none['status']);

        $downloads = 0;
        while (($e = $c->nextEvent(200)) !== null) {
            $downloads += $e['type'] === 'link_downloaded' ? 1 : 0;
            $c->ackEvent($e['id']);
        }
        self::assertSame(1, $downloads, 'one event for the completed download, none per chunk or middle range');

        try {
            $c->linkRead($file['stream']['id'] . 'x', 0);
            self::fail('a changed stream id must be refused');
        } catch (InvalidArgumentException $e) {
            self::assertSame('stream_invalid', $e->getErrorKind());
        }
        $bad = $c->linkPage(['method' => 'GET', 'token' => substr($token, 0, -2)]);
        self::assertSame(400, $bad['status']);
        self::assertStringContainsString('This link is not valid', $bad['body']);
    }

    public function testAgreementNeedsTheAcceptForm(): void
    {
        $c = $this->linkClient();
        $id = $this->signedIn($c);
        $r = $c->send(['mailbox' => $id, 'user' => 'u1', 'agreement_text' => 'Vertraulich behandeln.',
            'message' => ['to' => ['kunde@kunden.example'], 'subject' => 'Unterlagen', 'body_text' => '_agreementLink',
                'attachments' => [['name' => 'v.pdf', 'base64' => base64_encode('Vertrag')]]]]);
        $token = $r['link']['token'];
        $page = $c->linkPage(['method' => 'GET', 'token' => $token]);
        self::assertSame(1, preg_match('/name="csrf" value="([^"]+)"/', $page['body'], $m));
        self::assertSame(1, preg_match('/^o365_link_csrf=([^;]+);/', $page['headers']['Set-Cookie'], $k));
        self::assertSame(403, $c->linkPage(['method' => 'GET', 'token' => $token, 'query' => ['f' => '0']])['status']);
        $forged = $c->linkPage(['method' => 'POST', 'token' => $token, 'form' => ['csrf' => $m[1], 'agree' => 'yes']]);
        self::assertSame(403, $forged['status'], 'the form without its cookie');
        $ok = $c->linkPage(['method' => 'POST', 'token' => $token, 'form' => ['csrf' => $m[1], 'agree' => 'yes'],
            'cookies' => ['o365_link_csrf' => $k[1]], 'client_address' => '192.0.2.1']);
        self::assertSame(303, $ok['status']);
        parse_str((string) parse_url($ok['headers']['Location'], PHP_URL_QUERY), $q);
        $file = $c->linkPage(['method' => 'GET', 'token' => $token, 'query' => ['f' => '0', 'a' => $q['a']]]);
        self::assertSame(200, $file['status']);
        self::assertSame('Vertrag', $this->readAll($c, $file['stream'], 1048576));
    }

    public function testLinkRequestTakesTheWebRequestSafely(): void
    {
        $saved = [$_GET, $_POST, $_COOKIE, $_SERVER];
        try {
            $_GET = ['t' => 'abc.def', 'f' => '1', 'x' => ['array'], 'bad' => "\xff"];
            $_POST = ['agree' => 'yes'];
            $_COOKIE = ['o365_link_csrf' => 'n'];
            $_SERVER['REQUEST_METHOD'] = 'POST';
            $_SERVER['HTTP_ACCEPT_LANGUAGE'] = 'de-DE,de;q=0.9';
            $_SERVER['HTTP_RANGE'] = 'bytes=0-9';
            $_SERVER['HTTP_USER_AGENT'] = "Broken \xc3";
            $_SERVER['REMOTE_ADDR'] = '192.0.2.7';
            $r = Client::linkRequest();
            self::assertSame('POST', $r['method']);
            self::assertSame('abc.def', $r['token']);
            self::assertSame(['t' => 'abc.def', 'f' => '1'], (array) $r['query']);
            self::assertSame(['agree' => 'yes'], (array) $r['form']);
            self::assertSame('bytes=0-9', $r['range']);
            self::assertSame('192.0.2.7', $r['client_address']);
            self::assertArrayNotHasKey('user_agent', $r, 'not UTF-8: left out');
            // and the library takes it: an invalid token gets the friendly page, not an exception
            $c = $this->linkClient();
            $r['method'] = 'GET';
            self::assertSame(400, $c->linkPage($r)['status']);
        } finally {
            [$_GET, $_POST, $_COOKIE, $_SERVER] = $saved;
        }
    }
}
