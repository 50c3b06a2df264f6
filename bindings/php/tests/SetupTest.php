<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\RemoteException;

/**
 * Going live: Client::checkSetup() against o365-sim with a good app registration and three bad
 * ones, and the error a sign-in with a "Web" app but no secret ends with.
 */
final class SetupTest extends SimTestCase
{
    /** @param array<string, mixed> $app */
    private function clientWithApp(array $app): Client
    {
        $config = $this->simConfig();
        $config['app'] = $app;
        return new Client($config, self::libraryPath());
    }

    /** @param array<string, mixed> $report @return array<string, mixed> */
    private static function item(array $report, string $name): array
    {
        foreach ($report['items'] as $item) {
            if ($item['name'] === $name) {
                return $item;
            }
        }
        self::fail("no item $name in " . json_encode($report));
    }

    public function testGoodWebAppSetupPassesEveryCheck(): void
    {
        $c = $this->clientWithApp(['client_id' => self::WEB_APP_ID, 'client_secret' => self::WEB_APP_SECRET,
                                   'redirect_uri' => self::WEB_APP_REDIRECT]);
        $r = $c->checkSetup();
        self::assertTrue($r['ok'], json_encode($r));
        $names = array_column($r['items'], 'name');
        self::assertSame(['config', 'store', 'sign_in_endpoint', 'graph_endpoint', 'app_registration', 'redirect_uri'], $names);
        foreach ($r['items'] as $item) {
            self::assertSame('ok', $item['verdict'], json_encode($item));
        }
    }

    public function testBadAppSetupsAreToldApart(): void
    {
        $cases = [
            'unknown app' => [['client_id' => '0badc0de-0000-4000-8000-000000000000',
                               'redirect_uri' => 'http://localhost:8080/o365/callback'], 'AADSTS700016'],
            'wrong secret' => [['client_id' => self::WEB_APP_ID, 'client_secret' => 'expired-secret',
                                'redirect_uri' => self::WEB_APP_REDIRECT], 'AADSTS7000215'],
            'web app without secret' => [['client_id' => self::WEB_APP_ID,
                                          'redirect_uri' => self::WEB_APP_REDIRECT], 'AADSTS7000218'],
        ];
        foreach ($cases as $what => [$app, $code]) {
            $r = $this->clientWithApp($app)->checkSetup();
            self::assertFalse($r['ok'], $what);
            $item = self::item($r, 'app_registration');
            self::assertSame('failed', $item['verdict'], $what);
            self::assertSame($code, $item['code'], $what);
            self::assertNotEmpty($item['hint'], $what);
            self::assertSame('ok', self::item($r, 'store')['verdict'], $what);
        }
    }

    public function testWebAppSignInWithoutSecretNamesTheFix(): void
    {
        $c = $this->clientWithApp(['client_id' => self::WEB_APP_ID, 'redirect_uri' => self::WEB_APP_REDIRECT]);
        $id = $c->importMailbox(['address' => self::ANNA, 'users' => ['u1']])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        $redirect = $this->signInPage($start['authorize_url'], self::ANNA);
        self::assertStringStartsWith(self::WEB_APP_REDIRECT . '?code=', $redirect);
        try {
            $c->authenticate(['callback_url' => $redirect]);
            self::fail('a Web app without its secret cannot redeem the code');
        } catch (RemoteException $e) {
            self::assertSame('client_secret_missing', $e->getErrorKind());
            self::assertSame('AADSTS7000218', $e->getDetails()['code']);
            self::assertStringContainsString('app.client_secret', (string) $e->getHint());
        }
    }
}
