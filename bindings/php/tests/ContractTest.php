<?php

declare(strict_types=1);

namespace O365\Tests;

use O365\Client;
use O365\Library;
use O365\Tests\Support\Jsonschema;
use O365\Tests\Support\SchemaValidator;

/**
 * The published contract (include/o365.schema.json) against the library's real answers: a
 * realistic scenario against o365-sim through the PHP wrapper (sign-in, folders, messages,
 * sync, sends, link pages, events, operations, test hooks) validates the raw JSON of every
 * call against its response schema in "x-o365-calls", every request it sends against the
 * request schema, and failing calls' error documents against "x-o365-error" with their kind
 * listed in "x-o365-error-kinds". It ends by requiring that every call of the schema was
 * validated at least once, so a new call cannot slip through untested.
 */
final class ContractTest extends SimTestCase
{
    private SchemaValidator $schema;
    private \stdClass $calls;
    /** @var array<string, array{status: int}> kind => entry of x-o365-error-kinds */
    private array $kinds = [];
    /** @var array<string, int> call => responses validated */
    private array $validated = [];
    /** @var list<string> error kinds seen and validated */
    private array $errorKinds = [];
    /** @var list<string> */
    private array $findings = [];
    /** @var list<array{0: string, 1: string, 2: bool}> [schema pointer, raw JSON, valid] for Python's opinion */
    private array $samples = [];

    public static function schemaFile(): string
    {
        $env = getenv('O365_SCHEMA');
        return is_string($env) && $env !== '' ? $env : dirname(__DIR__, 3) . '/include/o365.schema.json';
    }

    protected function setUp(): void
    {
        parent::setUp();
        self::assertFileExists(self::schemaFile(), 'the generated contract (make header)');
        $this->schema = SchemaValidator::fromFile(self::schemaFile());
        $doc = $this->schema->resolve('#');
        self::assertInstanceOf(\stdClass::class, $doc);
        self::assertSame('https://json-schema.org/draft/2020-12/schema', $doc->{'$schema'} ?? null);
        $this->calls = $doc->{'x-o365-calls'};
        self::assertGreaterThan(30, count(get_object_vars($this->calls)));
        foreach ($doc->{'x-o365-error-kinds'} as $k) {
            $this->kinds[$k->kind] = ['status' => $k->status];
        }
        self::assertNotEmpty($this->kinds);
    }

    // ---- recording --------------------------------------------------------------------------

    private function callSchema(string $call): ?\stdClass
    {
        if (!property_exists($this->calls, $call)) {
            $this->findings[] = "$call: the library answers it, but x-o365-calls does not list it";
            return null;
        }
        return $this->calls->{$call};
    }

    /** Validates a request we are about to send against the call's request schema. */
    private function checkRequest(string $call, ?string $json): void
    {
        $entry = $this->callSchema($call);
        if ($entry === null) {
            return;
        }
        if ($entry->request === null) {
            return; // takes no JSON request (or only positional arguments)
        }
        foreach ($this->validateAt("#/x-o365-calls/$call/request", $json ?? 'null') as $e) {
            $this->findings[] = "$call request $json: $e";
        }
    }

    /** A request the library refuses as unknown_field must be outside the request schema too. */
    private function checkRequestRefused(string $call, string $json): void
    {
        $entry = $this->callSchema($call);
        if ($entry !== null && $entry->request !== null
            && $this->validateAt("#/x-o365-calls/$call/request", $json) === []) {
            $this->findings[] = "$call: the request schema accepts $json, which the library refuses";
        }
    }

    /** Validates a successful raw answer against the call's response schema. */
    private function checkResponse(string $call, ?string $json): void
    {
        $entry = $this->callSchema($call);
        if ($entry === null) {
            return;
        }
        if ($entry->response === null) {
            if ($json !== null) {
                $this->findings[] = "$call: the schema says no JSON result, the library returned " . substr($json, 0, 200);
            }
        } else {
            if ($json === null) {
                $this->findings[] = "$call: the schema describes a result, the library returned none";
            } else {
                foreach ($this->validateAt("#/x-o365-calls/$call/response", $json) as $e) {
                    $this->findings[] = "$call response: $e";
                }
            }
        }
        $this->validated[$call] = ($this->validated[$call] ?? 0) + 1;
    }

    /** Validates an error document against x-o365-error and its kind against x-o365-error-kinds. */
    private function checkError(string $call, int $status, ?string $doc): string
    {
        self::assertNotNull($doc, "$call: an error document");
        foreach ($this->validateAt('#/x-o365-error', $doc) as $e) {
            $this->findings[] = "$call error document $doc: $e";
        }
        $d = json_decode($doc, true, 64, JSON_THROW_ON_ERROR);
        $kind = (string) ($d['error'] ?? '');
        if (!isset($this->kinds[$kind])) {
            $this->findings[] = "$call: error kind \"$kind\" (status $status) is not in x-o365-error-kinds";
        } elseif ($this->kinds[$kind]['status'] !== $status) {
            $this->findings[] = "$call: error kind \"$kind\" came with status $status, x-o365-error-kinds says "
                . $this->kinds[$kind]['status'];
        }
        $this->errorKinds[] = $kind;
        return $kind;
    }

    /** @return list<string> what is wrong with $json against the schema at $pointer */
    private function validateAt(string $pointer, string $json): array
    {
        $errors = $this->schema->errors(SchemaValidator::decode($json), $this->schema->resolve($pointer));
        $this->samples[] = [$pointer, $json, $errors === []];
        return $errors;
    }

    /**
     * Python's jsonschema on every instance this test validated: it must reach the same
     * verdict as the PHP validator on the real schema and the real answers.
     */
    private function assertPythonAgrees(): void
    {
        $items = [];
        foreach ($this->samples as [$pointer, $json]) {
            $items[] = '{"pointer":' . json_encode($pointer) . ',"instance":' . $json . '}';
        }
        $file = $this->dir . '/instances.json';
        file_put_contents($file, '{"schema":' . json_encode(self::schemaFile(), JSON_UNESCAPED_SLASHES)
            . ',"items":[' . implode(",\n", $items) . ']}');
        $python = Jsonschema::verdicts(['--instances', $file]);
        self::assertCount(count($this->samples), $python);
        $disagree = [];
        foreach ($this->samples as $i => [$pointer, $json, $valid]) {
            if ($python[$i] !== $valid) {
                $disagree[] = sprintf('%s: PHP says %s, python jsonschema %s: %s', $pointer,
                    $valid ? 'valid' : 'invalid', $python[$i] ? 'valid' : 'invalid', substr($json, 0, 300));
            }
        }
        self::assertSame([], $disagree, 'the PHP validator and Python\'s jsonschema disagree');
    }

    /**
     * A verb through the wrapper's raw-JSON call, checked both ways.
     *
     * @param array<string, mixed>|object $request
     * @return array<mixed> the decoded answer
     */
    private function call(Client $c, string $verb, $request = []): array
    {
        $json = $request === [] ? '{}' : json_encode($request, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        $this->checkRequest("o365_$verb", $json);
        $raw = $c->callJson($verb, $json);
        $this->checkResponse("o365_$verb", $raw);
        return json_decode($raw, true, 512, JSON_THROW_ON_ERROR);
    }

    /**
     * A verb that must fail with $status: its error document is checked.
     *
     * @param array<string, mixed>|object $request
     */
    private function fails(Client $c, string $verb, $request, int $status): string
    {
        $json = json_encode($request, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        try {
            $c->callJson($verb, $json);
        } catch (\O365\Exception $e) {
            self::assertSame($status, $e->getStatus(), "$verb $json: " . $e->getMessage());
            return $this->checkError("o365_$verb", $status, $e->getDocument());
        }
        self::fail("$verb $json must fail with status $status");
    }

    // ---- the calls the wrapper only offers decoded: the same FFI functions it uses ---------

    private static function ffiOf(Client $c): \FFI
    {
        return (new \ReflectionProperty(Client::class, 'ffi'))->getValue($c);
    }

    private static function handleOf(Client $c): \FFI\CData
    {
        return (new \ReflectionProperty(Client::class, 'handle'))->getValue($c);
    }

    private static function take(\FFI $ffi, \FFI\CData $out): ?string
    {
        if (\FFI::isNull($out)) {
            return null;
        }
        $s = \FFI::string($out);
        $ffi->o365_string_free($out);
        return $s;
    }

    /** o365_client_new with the raw answer checked; the handle is freed again. */
    private function clientNew(array $config): void
    {
        $ffi = Library::get(self::libraryPath());
        $json = json_encode($config, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        $this->checkRequest('o365_client_new', $json);
        $handle = $ffi->new('o365_client*');
        $out = $ffi->new('char*');
        $status = (int) $ffi->o365_client_new($json, \FFI::addr($handle), \FFI::addr($out));
        $raw = self::take($ffi, $out);
        self::assertSame(0, $status, (string) $raw);
        $ffi->o365_client_free($handle);
        $this->checkResponse('o365_client_new', $raw);

        $bad = $config;
        $bad['no_such_option'] = 1;
        $out = $ffi->new('char*');
        $status = (int) $ffi->o365_client_new(json_encode($bad), \FFI::addr($handle), \FFI::addr($out));
        self::assertSame(1, $status);
        self::assertSame('unknown_field', $this->checkError('o365_client_new', 1, self::take($ffi, $out)));
        $this->checkRequestRefused('o365_client_new', json_encode($bad));
    }

    /** @return array<string, mixed>|null the next event (raw answer checked), null on timeout */
    private function nextEvent(Client $c, ?array $filter = null): ?array
    {
        $ffi = self::ffiOf($c);
        $out = $ffi->new('char*');
        if ($filter === null) {
            $call = 'o365_next_event';
            $status = (int) $ffi->o365_next_event(self::handleOf($c), 0, \FFI::addr($out));
        } else {
            $call = 'o365_next_event_filtered';
            $json = json_encode((object) $filter, JSON_THROW_ON_ERROR);
            $this->checkRequest($call, $json);
            $status = (int) $ffi->o365_next_event_filtered(self::handleOf($c), $json, 0, \FFI::addr($out));
        }
        $raw = self::take($ffi, $out);
        if ($status === 12) {
            self::assertSame('no_event', $this->checkError($call, 12, $raw));
            return null;
        }
        self::assertSame(0, $status, (string) $raw);
        $this->checkResponse($call, $raw);
        return json_decode((string) $raw, true, 512, JSON_THROW_ON_ERROR);
    }

    private function ackEvent(Client $c, string $id, int $expect = 0): void
    {
        $ffi = self::ffiOf($c);
        $out = $ffi->new('char*');
        $status = (int) $ffi->o365_ack_event(self::handleOf($c), $id, \FFI::addr($out));
        $raw = self::take($ffi, $out);
        self::assertSame($expect, $status, (string) $raw);
        if ($status === 0) {
            $this->checkResponse('o365_ack_event', $raw);
        } else {
            $this->checkError('o365_ack_event', $status, $raw);
        }
    }

    /** o365_link_read to the end; on success the library writes no JSON (out_json NULL). */
    private function linkReadAll(Client $c, string $stream, int $length): string
    {
        $ffi = self::ffiOf($c);
        $buf = $ffi->new('uint8_t[65536]');
        $data = '';
        do {
            $n = $ffi->new('size_t');
            $out = $ffi->new('char*');
            $status = (int) $ffi->o365_link_read(self::handleOf($c), $stream, strlen($data), $buf, 65536,
                \FFI::addr($n), \FFI::addr($out));
            $raw = self::take($ffi, $out);
            self::assertSame(0, $status, (string) $raw);
            $this->checkResponse('o365_link_read', $raw);
            $data .= \FFI::string($buf, (int) $n->cdata);
        } while ((int) $n->cdata > 0);
        self::assertSame($length, strlen($data));

        $out = $ffi->new('char*');
        $n = $ffi->new('size_t');
        $status = (int) $ffi->o365_link_read(self::handleOf($c), $stream . 'x', 0, $buf, 65536, \FFI::addr($n),
            \FFI::addr($out));
        self::assertSame(1, $status);
        self::assertSame('stream_invalid', $this->checkError('o365_link_read', 1, self::take($ffi, $out)));
        return $data;
    }

    // ---- the scenario ----------------------------------------------------------------------

    public function testEveryCallAnswersAsTheSchemaSays(): void
    {
        $config = $this->simConfig();
        $config['debug'] = ['test_hooks' => true];
        $config['links'] = ['base_url' => 'https://crm.example/o365/link?t={token}', 'language' => 'en'];
        $config['log'] = ['level' => 'info', 'buffer' => 1000];
        $config['sync'] = ['scheduler' => false];
        $this->clientNew($config);
        $c = new Client($config, self::libraryPath());
        $u1 = ['user' => 'u1'];

        // setup and mailboxes
        $this->call($c, 'check_setup');
        $box = $this->call($c, 'import_mailbox', ['address' => self::ANNA, 'users' => ['u1', 'u2'], 'main_user' => 'u1']);
        $id = $box['id'];
        $m = ['mailbox' => $id] + $u1;
        $this->fails($c, 'import_mailbox', ['address' => self::ANNA, 'users' => ['u1']], 3);
        $unknown = ['address' => 'x@contoso.example', 'users' => ['u1'], 'colour' => 'red'];
        self::assertSame('unknown_field', $this->fails($c, 'import_mailbox', $unknown, 1));
        $this->checkRequestRefused('o365_import_mailbox', (string) json_encode($unknown));
        self::assertSame('unknown_field', $this->fails($c, 'sync', $m + ['folder' => 'inbox'], 1));
        $this->checkRequestRefused('o365_sync', (string) json_encode($m + ['folder' => 'inbox']));
        $this->call($c, 'import_mailbox', ['address' => 'info@contoso.example', 'users' => ['u1'], 'kind' => 'shared',
            'settings' => ['background_sync' => false]]);
        $this->call($c, 'list_mailboxes');
        $this->call($c, 'list_mailboxes', $u1);
        $this->call($c, 'get_mailbox', $m);
        $this->fails($c, 'get_mailbox', ['mailbox' => 'nobody@contoso.example'], 2);
        $this->call($c, 'update_mailbox', ['mailbox' => $id, 'settings' => ['book_external_sent' => true]]);

        // sign-in: code flow (both halves), then the device flow for another mailbox
        $start = $this->call($c, 'authenticate', $m);
        self::assertSame('authorization_required', $start['status']);
        $done = $this->call($c, 'authenticate', ['callback_url' => $this->signInPage($start['authorize_url'], self::ANNA)]);
        self::assertSame('authenticated', $done['status']);
        $this->call($c, 'authenticate', ['mailbox' => $id, 'user' => 'u2']);
        $this->fails($c, 'authenticate', ['mailbox' => $id, 'user' => 'stranger'], 4);
        $ben = $this->call($c, 'import_mailbox', ['address' => self::BEN, 'users' => ['u1']])['id'];
        $device = $this->call($c, 'authenticate', ['mailbox' => $ben, 'user' => 'u1', 'flow' => 'device_code']);
        self::assertSame('device_code_pending', $device['status']);
        $this->fails($c, 'list_folders', ['mailbox' => $ben, 'user' => 'u1'], 5);
        $this->call($c, 'audit_log', $m + ['limit' => 10]);

        // folders, messages, sync
        $this->call($c, 'list_folders', $m);
        $this->call($c, 'list_folders', $m + ['include_hidden' => true, 'max_age_ms' => 0]);
        $this->fails($c, 'list_folders', ['mailbox' => $id, 'user' => 'intruder'], 4);
        $sync = $this->call($c, 'sync', $m);
        self::assertSame('ok', $sync['status']);
        $page = $this->call($c, 'list_messages', $m + ['folder' => 'inbox', 'limit' => 5]);
        self::assertIsString($page['next_cursor']);
        $this->call($c, 'list_messages', $m + ['folder' => 'inbox', 'limit' => 5, 'cursor' => $page['next_cursor']]);
        $this->call($c, 'list_messages', $m + ['folder' => 'inbox', 'unread_only' => true, 'sort' => 'oldest']);
        $this->call($c, 'list_messages', $m + ['folder' => 'inbox', 'search' => 'a']);
        $this->fails($c, 'list_messages', $m + ['folder' => 'Gibt es nicht'], 2);
        $all = $this->call($c, 'list_messages', $m + ['folder' => 'inbox', 'limit' => 500])['messages'];
        $withAtt = array_values(array_filter($all, fn ($x) => $x['has_attachments']))[0];
        $msg = $this->call($c, 'get_message', $m + ['id' => $withAtt['id']]);
        $this->call($c, 'get_message', $m + ['id' => $page['messages'][0]['id'], 'refresh' => true]);
        $att = ['message' => $withAtt['id'], 'attachment' => $msg['attachments'][0]['id']];
        $this->call($c, 'get_attachment', $m + $att);
        $this->call($c, 'get_attachment', $m + $att + ['path' => $this->dir . '/attachment.bin']);
        $target = $page['messages'][2]['id'];
        $this->call($c, 'mark_read', $m + ['id' => $target]);
        $this->call($c, 'mark_read', $m + ['ids' => [$target, 'AAMk-no-such-message'], 'read' => false]);
        $this->call($c, 'move_message', $m + ['id' => $target, 'to' => 'Kunden']);
        $this->call($c, 'delete_message', $m + ['id' => $page['messages'][1]['id']]);
        $this->fails($c, 'delete_message', $m + ['id' => $page['messages'][1]['id']], 2);
        $this->call($c, 'move_folder_contents', $m + ['from' => 'Gesendete Objekte', 'to' => 'sentitems']);
        $this->call($c, 'sync', $m + ['folders' => ['inbox', 'sentitems']]);

        // sending: now, queued, with a download link and with an agreement link
        $sent = $this->call($c, 'send', $m + ['idempotency_key' => 'contract-1', 'message' => [
            'to' => ['kunde@kunden.example'], 'cc' => [['address' => 'chef@kunden.example', 'name' => 'Chef']],
            'subject' => 'Angebot', 'body_html' => '<p>Guten Tag</p>', 'importance' => 'high']]);
        self::assertSame('sent', $sent['state']);
        $this->call($c, 'send_status', $m + ['send_id' => $sent['send_id']]);
        $queued = $this->call($c, 'send', $m + ['queue' => true, 'message' => [
            'to' => ['zwei@kunden.example'], 'subject' => 'Später', 'body_text' => 'Guten Tag']]);
        $this->call($c, 'send_status', $m + ['send_id' => $queued['send_id']]);
        $this->call($c, 'outbox_process', ['wait_ms' => 5000]);
        $this->call($c, 'send_status', $m + ['send_id' => $queued['send_id']]);
        $this->fails($c, 'send', $m + ['message' => ['to' => array_map(fn ($i) => "k$i@kunden.example", range(1, 11)),
            'subject' => 'Zu viele', 'body_text' => 'x']], 7);
        $this->fails($c, 'send', $m + ['idempotency_key' => 'contract-1', 'message' => [
            'to' => ['anders@kunden.example'], 'subject' => 'Anders', 'body_text' => 'x']], 16);
        $bytes = random_bytes(100000);
        $dl = $this->call($c, 'send', $m + ['message' => ['to' => ['kunde@kunden.example'], 'subject' => 'Exposé',
            'body_text' => '_downloadLink(Exposé)', 'attachments' => [['name' => 'expose.pdf',
                'base64' => base64_encode($bytes)]]]]);
        $token = $dl['link']['token'];
        $ag = $this->call($c, 'send', $m + ['agreement_text' => 'Vertraulich.', 'message' => [
            'to' => ['kunde@kunden.example'], 'subject' => 'Vertrag', 'body_text' => '_agreementLink',
            'attachments' => [['name' => 'v.pdf', 'base64' => base64_encode('Vertrag')]]]]);
        $agToken = $ag['link']['token'];

        // the link page and its file stream; the older link calls
        $this->call($c, 'link_page', ['method' => 'GET', 'token' => $token, 'accept_language' => 'de-DE']);
        $file = $this->call($c, 'link_page', ['method' => 'GET', 'token' => $token, 'query' => ['f' => '0']]);
        self::assertSame($bytes, $this->linkReadAll($c, $file['stream']['id'], $file['stream']['length']));
        $this->call($c, 'link_page', ['method' => 'GET', 'token' => $token, 'query' => ['f' => '0'], 'range' => 'bytes=0-9']);
        $this->call($c, 'link_page', ['method' => 'GET', 'token' => substr($token, 0, -2)]);
        $this->call($c, 'link_open', ['token' => $token]);
        $this->fails($c, 'link_open', ['token' => substr($token, 0, -2)], 1);
        $this->call($c, 'link_open', ['token' => $agToken]);
        $this->fails($c, 'link_download', ['token' => $agToken, 'file' => 0, 'path' => $this->dir . '/v.pdf'], 4);
        $accepted = $this->call($c, 'link_accept', ['token' => $agToken, 'client_address' => '192.0.2.1',
            'user_agent' => 'contract test']);
        $this->call($c, 'link_download', ['token' => $agToken, 'file' => 0, 'path' => $this->dir . '/v.pdf',
            'acceptance' => $accepted['acceptance'], 'client_address' => '192.0.2.1']);
        $this->call($c, 'link_download', ['token' => $token, 'file' => 0, 'path' => $this->dir . '/e.pdf']);
        $this->call($c, 'links_purge');

        // events: every type this scenario produced, through both calls, then acked
        $types = [];
        $filtered = $this->nextEvent($c, ['types' => ['link_downloaded'], 'mailbox' => $id]);
        self::assertNotNull($filtered);
        $this->ackEvent($c, $filtered['id']);
        $this->ackEvent($c, $filtered['id']);
        $this->ackEvent($c, 'no-such-event', 2);
        while (($e = $this->nextEvent($c)) !== null) {
            $types[$e['type']] = true;
            $this->ackEvent($c, $e['id']);
        }
        self::assertArrayHasKey('link_accepted', $types);
        self::assertNull($this->nextEvent($c, ['types' => ['activity']]));

        // operations and test hooks
        $this->call($c, 'maintenance');
        $this->call($c, 'maintenance', ['idle_refresh_days' => 1, 'keep_acked_events_days' => 1]);
        $this->call($c, 'metrics', ['format' => 'json']);
        $this->call($c, 'metrics', ['format' => 'prometheus']);
        $this->call($c, 'take_logs', ['max' => 50]);
        $this->call($c, 'debug_counters');
        $emitted = $this->call($c, 'debug_emit_event', ['type' => 'activity', 'mailbox' => $id, 'payload' => ['x' => 1]]);
        $this->ackEvent($c, $emitted['id']);
        $this->call($c, 'debug_panic', ['job' => 'scheduler']);
        $this->fails($c, 'debug_panic', ['message' => 'contract test'], 14);
        $this->call($c, 'get_mailbox', $m);

        // the end of the mailbox
        $this->call($c, 'cache_clear', $m);
        $this->call($c, 'sign_out', $m);
        $this->fails($c, 'sync', $m, 5);
        $this->call($c, 'remove_mailbox', ['mailbox' => $id]);
        $this->fails($c, 'remove_mailbox', ['mailbox' => $id], 2);
        $c->close();

        $this->assertPythonAgrees();
        $findings = array_values(array_unique($this->findings));
        self::assertSame([], $findings, count($findings) . ' answers differ from the schema');
        $missing = array_values(array_diff(array_keys(get_object_vars($this->calls)), array_keys($this->validated)));
        sort($missing);
        self::assertSame([], $missing, 'calls of x-o365-calls that no response was validated for');
        self::assertGreaterThanOrEqual(15, count($this->errorKinds));
    }
}
