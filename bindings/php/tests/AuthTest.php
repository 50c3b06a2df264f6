<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\AuthRequiredException;
use O365\ConsentRequiredException;
use O365\ForbiddenException;
use O365\InvalidArgumentException;

/**
 * Sign-in from PHP against o365-sim (issue 4): code flow, every assigned user and nobody
 * else, a wrong account, a reused state, admin consent, sign-out and the audit list.
 */
final class AuthTest extends SimTestCase
{
    public function testSignInServesEveryAssignedUserAndNobodyElse(): void
    {
        $c = $this->simClient();
        $id = $this->signedIn($c);
        self::assertSame('authenticated', $c->authenticate(['mailbox' => $id, 'user' => 'u2'])['status']);
        $box = $c->getMailbox(['mailbox' => $id, 'user' => 'u2']);
        self::assertSame(self::ANNA, $box['account']['address']);
        try {
            $c->authenticate(['mailbox' => $id, 'user' => 'stranger']);
            self::fail('an unassigned user must be refused');
        } catch (ForbiddenException $e) {
            self::assertSame('user_not_assigned', $e->getErrorKind());
            self::assertNotSame('', (string) $e->getHint());
        }
        $log = $c->call('audit_log', ['mailbox' => $id, 'user' => 'u1'])['entries'];
        $denied = array_filter($log, fn ($e) => $e['user'] === 'stranger' && $e['outcome'] === 'denied');
        self::assertCount(1, $denied);

        $out = $c->call('sign_out', ['mailbox' => $id, 'user' => 'u1']);
        self::assertTrue($out['tokens_removed']);
        $again = $c->authenticate(['mailbox' => $id, 'user' => 'u2']);
        self::assertSame('authorization_required', $again['status']);
    }

    public function testWrongAccountAndReusedStateAreRefused(): void
    {
        $c = $this->simClient();
        $id = $c->importMailbox(['address' => self::ANNA, 'users' => ['u1']])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        $redirect = $this->signInPage($start['authorize_url'], self::BEN);
        try {
            $c->authenticate(['callback_url' => $redirect]);
            self::fail('Ben must not sign in Anna\'s mailbox');
        } catch (ForbiddenException $e) {
            self::assertSame('account_mismatch', $e->getErrorKind());
            self::assertStringContainsString(self::BEN, $e->getMessage());
            self::assertStringContainsString(self::ANNA, $e->getMessage());
        }
        try {
            $c->authenticate(['callback_url' => $redirect]);
            self::fail('a state is single use');
        } catch (InvalidArgumentException $e) {
            self::assertSame('state_already_used', $e->getErrorKind());
        }
        self::assertSame('not_authenticated', $c->getMailbox(['mailbox' => $id])['auth_state']);
    }

    public function testAdminConsentThenSignIn(): void
    {
        $c = $this->simClient();
        $eve = 'eve@fabrikam.example';
        $id = $c->importMailbox(['address' => $eve, 'users' => ['u1']])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        $redirect = $this->signInPage($start['authorize_url'], $eve);
        try {
            $c->authenticate(['callback_url' => $redirect]);
            self::fail('fabrikam requires admin consent');
        } catch (ConsentRequiredException $e) {
            $url = $e->getDetails()['admin_consent_url'];
            self::assertStringContainsString('/adminconsent', $url);
            self::assertStringContainsString('administrator', (string) $e->getHint());
        }
        $back = $this->signInPage($url, 'admin@fabrikam.example');
        $next = $c->authenticate(['callback_url' => $back]);
        self::assertSame('granted', $next['admin_consent']);
        $done = $c->authenticate(['callback_url' => $this->signInPage($next['authorize_url'], $eve)]);
        self::assertSame('authenticated', $done['status']);
    }

    public function testDeclinedSignIn(): void
    {
        $c = $this->simClient();
        $id = $c->importMailbox(['address' => self::ANNA, 'users' => ['u1']])['id'];
        $start = $c->authenticate(['mailbox' => $id, 'user' => 'u1']);
        $this->expectException(AuthRequiredException::class);
        $c->authenticate(['callback_url' => $this->signInPage($start['authorize_url'], self::ANNA, false)]);
    }
}
