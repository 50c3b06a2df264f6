<?php

declare(strict_types=1);

namespace O365;

/**
 * One connection to the o365 library (an `o365_client *`), from PHP through FFI.
 *
 *     $o365 = new O365\Client(['store' => '/var/lib/crm/o365.db']);
 *     $box  = $o365->importMailbox(['address' => 'anna@contoso.example', 'users' => ['u1'],
 *                                   'main_user' => 'u1', 'kind' => 'user']);
 *     foreach ($o365->listMailboxes(['user' => 'u1']) as $m) { ... }
 *     while (($event = $o365->nextEvent(0)) !== null) { handle($event); $o365->ackEvent($event['id']); }
 *
 * Requests are PHP arrays (encoded to JSON objects; an empty array is sent as {}; use
 * `new \stdClass()` for an empty nested object), results are decoded arrays. A failed call
 * throws the O365\Exception subclass for its status (NotFoundException, ForbiddenException,
 * ...), carrying the status, kind, message, hint and details of the library's error document.
 *
 * Every string the library returns is copied into PHP and released with o365_string_free().
 * The client is freed by __destruct() (or close()). A Client must not be used in a child
 * process after pcntl_fork(): it throws ForkedException there; create a new Client instead.
 */
final class Client
{
    private \FFI $ffi;
    private ?\FFI\CData $handle = null;
    /** linkRead()'s reusable buffer. */
    private ?\FFI\CData $readBuffer = null;
    private int $readBufferSize = 0;
    /** @var array<string, mixed> what o365_client_new answered: version, abi_version, store, warnings */
    private array $info = [];

    /**
     * @param array<string, mixed> $config see the README: store, encryption_key, app, endpoints, ...
     * @param string|null $libraryPath path of libo365.so; default: the library preloaded by
     *        Library::preload(), else env O365_LIB, else libo365.so.<ABI> from the system's
     *        library path, else pkg-config's libdir (see Library)
     * @throws LoadException when the library cannot be loaded
     * @throws Exception when the library refuses the configuration (InvalidArgumentException, ...)
     */
    public function __construct(array $config, ?string $libraryPath = null)
    {
        $this->ffi = Library::get($libraryPath);
        $json = self::encode($config);
        $handle = $this->ffi->new('o365_client*');
        $out = $this->ffi->new('char*');
        $status = (int) $this->ffi->o365_client_new($json, \FFI::addr($handle), \FFI::addr($out));
        $doc = $this->take($out);
        if ($status !== 0) {
            if (!\FFI::isNull($handle)) {
                $this->ffi->o365_client_free($handle);
            }
            throw Exception::fromStatus($status, $doc);
        }
        if (\FFI::isNull($handle)) {
            throw new InternalException('o365_client_new returned OK without a client', 14, 'internal');
        }
        $this->handle = $handle;
        $this->info = $this->decode($doc ?? '{}');
    }

    /**
     * The warnings o365_client_new gave for this configuration (e.g. that no encryption key
     * was configured and a key file beside the store is used). Log them at startup.
     *
     * @return list<string>
     */
    public function warnings(): array
    {
        return array_values(array_map('strval', (array) ($this->info['warnings'] ?? [])));
    }

    /**
     * What o365_client_new answered: ['version', 'abi_version', 'store', 'warnings'].
     *
     * @return array<string, mixed>
     */
    public function info(): array
    {
        return $this->info;
    }

    public function __destruct()
    {
        $this->close();
    }

    /** Frees the underlying client; later calls throw InvalidArgumentException. Idempotent. */
    public function close(): void
    {
        if ($this->handle !== null) {
            $handle = $this->handle;
            $this->handle = null;
            $this->ffi->o365_client_free($handle);
        }
    }

    /** The library's version string. */
    public function version(): string
    {
        return (string) $this->ffi->o365_version();
    }

    // ---- named verbs (one line each; any other verb works through call()) -------------------

    /** @param array<string, mixed> $request @return array<string, mixed> */
    public function importMailbox(array $request): array { return $this->call('import_mailbox', $request); }

    /** @param array<string, mixed> $request e.g. [] or ['user' => 'u1'] @return array<mixed> */
    public function listMailboxes(array $request = []): array { return $this->call('list_mailboxes', $request); }

    /** @param array<string, mixed> $request ['mailbox' => id|address, 'user' => crm user] @return array<string, mixed> */
    public function getMailbox(array $request): array { return $this->call('get_mailbox', $request); }

    /** @param array<string, mixed> $request @return array<string, mixed> */
    public function updateMailbox(array $request): array { return $this->call('update_mailbox', $request); }

    /** @param array<string, mixed> $request @return array<mixed> */
    public function removeMailbox(array $request): array { return $this->call('remove_mailbox', $request); }

    /**
     * Starts or completes the Microsoft sign-in of a mailbox:
     * ['mailbox', 'user', 'redirect_uri'?, 'prompt'?, 'flow'? => 'code'|'device_code'] or
     * ['callback_url' => the redirect the CRM received] (or ['code', 'state']).
     * => ['status' => 'authenticated'|'authorization_required'|'device_code_pending', ...].
     * Throws ForbiddenException (account_mismatch, user_not_assigned), ConsentRequiredException
     * (getDetails()['admin_consent_url']), InvalidArgumentException (invalid_state, ...).
     * @param array<string, mixed> $request @return array<string, mixed>
     */
    public function authenticate(array $request): array { return $this->call('authenticate', $request); }

    /** Forgets a mailbox's tokens. @param array<string, mixed> $request ['mailbox', 'user'] @return array<string, mixed> */
    public function signOut(array $request): array { return $this->call('sign_out', $request); }

    /** Who signed in/out or was refused. @param array<string, mixed> $request ['mailbox', 'user', 'limit'?] @return array<string, mixed> */
    public function auditLog(array $request): array { return $this->call('audit_log', $request); }

    // ---- folders, messages, sync (issue 5; requests as in include/o365.h) ------------------

    /** Folder tree with roles and counts: ['mailbox', 'user', 'max_age_ms'?, 'include_hidden'?]. @param array<string, mixed> $request @return array<string, mixed> */
    public function listFolders(array $request): array { return $this->call('list_folders', $request); }

    /** A page of a folder: ['mailbox', 'user', 'folder', 'cursor'?, 'limit'?, 'sort'?, 'unread_only'?, 'search'?]. @param array<string, mixed> $request @return array<string, mixed> */
    public function listMessages(array $request): array { return $this->call('list_messages', $request); }

    /** One message with body and attachment list: ['mailbox', 'user', 'id', 'refresh'?]. @param array<string, mixed> $request @return array<string, mixed> */
    public function getMessage(array $request): array { return $this->call('get_message', $request); }

    /** Attachment bytes: ['mailbox', 'user', 'message', 'attachment', 'path'?]. @param array<string, mixed> $request @return array<string, mixed> */
    public function getAttachment(array $request): array { return $this->call('get_attachment', $request); }

    /** ['mailbox', 'user', 'id' | 'ids', 'read'?]. @param array<string, mixed> $request @return array<string, mixed> */
    public function markRead(array $request): array { return $this->call('mark_read', $request); }

    /** ['mailbox', 'user', 'id', 'to' => folder id, role or name]. @param array<string, mixed> $request @return array<string, mixed> */
    public function moveMessage(array $request): array { return $this->call('move_message', $request); }

    /** ['mailbox', 'user', 'id']. @param array<string, mixed> $request @return array<string, mixed> */
    public function deleteMessage(array $request): array { return $this->call('delete_message', $request); }

    /** Brings the cache up to date: ['mailbox', 'user', 'folders'?]. @param array<string, mixed> $request @return array<string, mixed> */
    public function sync(array $request): array { return $this->call('sync', $request); }

    /** Wipes the mailbox's cache and delta state: ['mailbox', 'user']. @param array<string, mixed> $request @return array<string, mixed> */
    public function cacheClear(array $request): array { return $this->call('cache_clear', $request); }

    /** Moves every message of one folder to another, resumable: ['mailbox', 'user', 'from', 'to']. @param array<string, mixed> $request @return array<string, mixed> */
    public function moveFolderContents(array $request): array { return $this->call('move_folder_contents', $request); }

    /** Idle-token refresh and event purge (cron). @param array<string, mixed> $request @return array<string, mixed> */
    public function maintenance(array $request = []): array { return $this->call('maintenance', $request); }

    /**
     * Checks what can be checked before anyone signs in (docs/going-live.md): config, store,
     * sign-in and Graph endpoints with the configured trust, and whether Entra ID knows the app
     * and its secret. ['tenant'?] => ['ok' => bool, 'items' => [['name', 'verdict' =>
     * 'ok'|'warning'|'failed', 'message', 'hint'?, 'code'? (AADSTS...)], ...]].
     * @param array<string, mixed> $request @return array<string, mixed>
     */
    public function checkSetup(array $request = []): array { return $this->call('check_setup', $request); }

    /**
     * Sends one mail exactly once under the send policy:
     * ['mailbox', 'user', 'message' => [to, cc, bcc, subject, body_html|body_text, attachments, ...],
     *  'idempotency_key'?, 'serial_mail'?, 'agreement_text'?, 'queue'?]
     * => ['send_id', 'state' => 'sent'|'queued', 'internet_message_id'].
     * Throws PolicyViolationException (too_many_recipients, serial_mail_not_allowed; hint names
     * _downloadLink(Text) / _agreementLink), ForbiddenException (alias_send_not_enabled), ...
     * @param array<string, mixed> $request @return array<string, mixed>
     */
    public function send(array $request): array { return $this->call('send', $request); }

    /** @param array<string, mixed> $request ['mailbox', 'user', 'send_id'|'idempotency_key'] @return array<string, mixed> */
    public function sendStatus(array $request): array { return $this->call('send_status', $request); }

    /** Sends what is due in the outbox now (cron). @param array<string, mixed> $request ['wait_ms'?] @return array<string, mixed> */
    public function outboxProcess(array $request = []): array { return $this->call('outbox_process', $request); }

    /** Link page: ['token'] => ['kind', 'state', 'agreement_text', 'files', 'expires_at', 'sender'] @param array<string, mixed> $request @return array<string, mixed> */
    public function linkOpen(array $request): array { return $this->call('link_open', $request); }

    /** ['token', 'client_address', 'user_agent'?] => ['accepted', 'acceptance', ...] @param array<string, mixed> $request @return array<string, mixed> */
    public function linkAccept(array $request): array { return $this->call('link_accept', $request); }

    /** ['token', 'file', 'path', 'acceptance'?, 'client_address'?] => ['name', 'size', 'path', ...] @param array<string, mixed> $request @return array<string, mixed> */
    public function linkDownload(array $request): array { return $this->call('link_download', $request); }

    /**
     * The finished link page (o365_link_page): pass the web request, get what to answer:
     * ['status' => int, 'headers' => [name => value], 'body'? => html,
     *  'stream'? => ['id', 'offset', 'length', 'size']]. serveLink() does all of it.
     * @param array<string, mixed> $request ['method', 'token', 'query'?, 'form'?, 'cookies'?,
     *   'accept_language'?, 'range'?, 'if_none_match'?, 'client_address'?, 'user_agent'?]
     * @return array<string, mixed>
     */
    public function linkPage(array $request): array { return $this->call('link_page', $request); }

    /**
     * Reads up to $max bytes of a stream that linkPage() answered with, from position $pos
     * (0 = first byte of the answer's range); '' at the end. Memory stays bounded by $max.
     * The read that delivers the last byte of the file publishes one link_downloaded event.
     *
     * @throws Exception
     */
    public function linkRead(string $streamId, int $pos, int $max = 1048576): string
    {
        if ($max < 1 || $max > 64 * 1048576 || $pos < 0) {
            throw new InvalidArgumentException(
                sprintf('linkRead: pos must be >= 0 and max between 1 and 67108864, got %d / %d', $pos, $max),
                1,
                'invalid_argument'
            );
        }
        if ($this->readBuffer === null || $this->readBufferSize !== $max) {
            $this->readBuffer = $this->ffi->new("uint8_t[$max]");
            $this->readBufferSize = $max;
        }
        $n = $this->ffi->new('size_t');
        $out = $this->ffi->new('char*');
        $status = (int) $this->ffi->o365_link_read($this->handle(), $streamId, $pos, $this->readBuffer, $max,
            \FFI::addr($n), \FFI::addr($out));
        $json = $this->take($out);
        if ($status !== 0) {
            throw Exception::fromStatus($status, $json);
        }
        $count = (int) $n->cdata;
        return $count === 0 ? '' : \FFI::string($this->readBuffer, $count);
    }

    /**
     * The current web request in the form linkPage() takes ($_GET, $_POST, $_COOKIE and the
     * headers from $_SERVER). $token: the link token; default $_GET['t'].
     *
     * @return array<string, mixed>
     */
    public static function linkRequest(?string $token = null): array
    {
        $server = $_SERVER;
        $request = [
            'method' => (string) ($server['REQUEST_METHOD'] ?? 'GET'),
            'token' => $token ?? (is_string($_GET['t'] ?? null) ? $_GET['t'] : ''),
            'query' => self::textFields($_GET),
            'form' => self::textFields($_POST),
            'cookies' => self::textFields($_COOKIE),
        ];
        foreach (['accept_language' => 'HTTP_ACCEPT_LANGUAGE', 'range' => 'HTTP_RANGE',
                  'if_none_match' => 'HTTP_IF_NONE_MATCH', 'client_address' => 'REMOTE_ADDR',
                  'user_agent' => 'HTTP_USER_AGENT'] as $field => $key) {
            $value = $server[$key] ?? null;
            // headers are ASCII in practice; anything longer or not UTF-8 is left out
            if (is_string($value) && strlen($value) <= ($field === 'range' ? 200 : 1000)
                && preg_match('//u', $value) === 1) {
                $request[$field] = $value;
            }
        }
        if (!is_string($request['token']) || preg_match('//u', $request['token']) !== 1) {
            $request['token'] = '';
        }
        return $request;
    }

    /**
     * The string fields of a request array that are valid UTF-8 (others cannot be JSON).
     *
     * @param array<mixed> $fields
     */
    private static function textFields(array $fields): object
    {
        $out = [];
        foreach ($fields as $k => $v) {
            if (is_string($v) && preg_match('//u', $v) === 1 && preg_match('//u', (string) $k) === 1) {
                $out[(string) $k] = $v;
            }
        }
        return (object) $out;
    }

    /**
     * Answers the current web request with the link page: status, headers, then the HTML or
     * the file streamed in $chunk-byte pieces (memory stays bounded whatever the file size).
     * Returns the answer linkPage() gave (without the streamed bytes).
     *
     * @param array<string, mixed>|null $request default: linkRequest()
     * @return array<string, mixed>
     */
    public function serveLink(?array $request = null, int $chunk = 1048576): array
    {
        $answer = $this->linkPage($request ?? self::linkRequest());
        http_response_code((int) $answer['status']);
        foreach ($answer['headers'] as $name => $value) {
            header($name . ': ' . $value);
        }
        if (isset($answer['body'])) {
            echo $answer['body'];
            return $answer;
        }
        if (!isset($answer['stream'])) {
            return $answer;
        }
        while (ob_get_level() > 0) {
            ob_end_flush();
        }
        $id = (string) $answer['stream']['id'];
        $length = (int) $answer['stream']['length'];
        for ($pos = 0; $pos < $length;) {
            $piece = $this->linkRead($id, $pos, $chunk);
            if ($piece === '' || connection_aborted()) {
                break;
            }
            echo $piece;
            flush();
            $pos += strlen($piece);
        }
        return $answer;
    }

    /** Deletes files of expired links. @param array<string, mixed> $request @return array<string, mixed> */
    public function linksPurge(array $request = []): array { return $this->call('links_purge', $request); }

    /** Test hook (needs config debug.test_hooks): panics inside the library; throws InternalException. */
    public function debugPanic(array $request = []): array { return $this->call('debug_panic', $request); }

    /** Test hook (needs config debug.test_hooks): ['type' => ..., 'payload' => [...]] => ['id' => ...] */
    public function debugEmitEvent(array $request): array { return $this->call('debug_emit_event', $request); }

    /** Test hook: {"strings_outstanding", "clients_alive"} (process-wide counters for leak tests). */
    public function debugCounters(): array { return $this->call('debug_counters', []); }

    // ---- events ------------------------------------------------------------------------------

    /**
     * The next pending event (['id' => ..., 'type' => ..., ...]), or null when none arrived
     * within $timeoutMs milliseconds. An event that is not acked is handed out again later.
     *
     * @return array<string, mixed>|null
     */
    public function nextEvent(int $timeoutMs = 0): ?array
    {
        if ($timeoutMs < 0 || $timeoutMs > 0xFFFFFFFF) {
            throw new InvalidArgumentException(
                sprintf('timeout_ms must be between 0 and 4294967295, got %d', $timeoutMs),
                1,
                'invalid_argument'
            );
        }
        $out = $this->ffi->new('char*');
        $status = (int) $this->ffi->o365_next_event($this->handle(), $timeoutMs, \FFI::addr($out));
        $json = $this->take($out);
        if ($status === 12) { // O365_TIMEOUT: nothing pending
            return null;
        }
        return $this->result($status, $json);
    }

    /**
     * Like nextEvent(), but takes only events matching $filter: ['types' => ['activity', ...],
     * 'mailbox' => '<id or address>'] (both optional). Events that do not match stay in the
     * queue, untouched, for other consumers.
     *
     * @param array{types?: list<string>, mailbox?: string} $filter
     * @return array<string, mixed>|null
     */
    public function nextEventFiltered(array $filter, int $timeoutMs = 0): ?array
    {
        if ($timeoutMs < 0 || $timeoutMs > 0xFFFFFFFF) {
            throw new InvalidArgumentException(
                sprintf('timeout_ms must be between 0 and 4294967295, got %d', $timeoutMs),
                1,
                'invalid_argument'
            );
        }
        $out = $this->ffi->new('char*');
        $status = (int) $this->ffi->o365_next_event_filtered(
            $this->handle(), self::encode($filter), $timeoutMs, \FFI::addr($out));
        $json = $this->take($out);
        if ($status === 12) { // O365_TIMEOUT: nothing pending
            return null;
        }
        return $this->result($status, $json);
    }

    /**
     * Removes an event from the queue for good.
     *
     * @return array<mixed>
     */
    public function ackEvent(string $eventId): array
    {
        $out = $this->ffi->new('char*');
        $status = (int) $this->ffi->o365_ack_event($this->handle(), $eventId, \FFI::addr($out));
        return $this->result($status, $this->take($out));
    }

    // ---- operations --------------------------------------------------------------------------

    /**
     * Counters, histograms and queue depths as JSON: ['client' => ..., 'metrics' => [['name',
     * 'type', 'help', 'samples' => [...]], ...]].
     *
     * @return array<string, mixed>
     */
    public function metrics(): array { return $this->call('metrics', ['format' => 'json']); }

    /**
     * The same metrics in Prometheus' text exposition format: serve it on the host's /metrics
     * with the content type `text/plain; version=0.0.4; charset=utf-8`.
     */
    public function metricsPrometheus(): string
    {
        return (string) $this->call('metrics', ['format' => 'prometheus'])['text'];
    }

    /**
     * Removes and returns up to $max buffered log records (config log.buffer):
     * ['records' => [['ts', 'level', 'target', 'message', 'client', ...], ...], 'dropped' => n].
     * See Psr3LogBridge to hand them to a PSR-3 logger.
     *
     * @return array{records: list<array<string, mixed>>, dropped: int}
     */
    public function takeLogs(int $max = 100): array { return $this->call('take_logs', ['max' => $max]); }

    // ---- generic -----------------------------------------------------------------------------

    /**
     * Calls o365_<verb>(client, request_json, &out_json) and returns the decoded result.
     *
     * @param array<string, mixed>|object $request
     * @return array<mixed>
     * @throws Exception
     */
    public function call(string $verb, $request = []): array
    {
        return $this->decode($this->callJson($verb, self::encode($request)));
    }

    /**
     * Like call(), with the request and the result as raw JSON text (the request is passed to
     * the library unchanged, so it may be anything: the library validates it).
     *
     * @throws Exception
     */
    public function callJson(string $verb, ?string $requestJson): string
    {
        $fn = self::symbol($verb);
        $handle = $this->handle();
        $out = $this->ffi->new('char*');
        try {
            $status = (int) $this->ffi->$fn($handle, $requestJson, \FFI::addr($out));
        } catch (\FFI\Exception $e) {
            throw new \BadMethodCallException(
                sprintf('"%s" is not a function of this libo365 (%s)', $verb, $e->getMessage()), 0, $e);
        }
        $json = $this->take($out);
        if ($status !== 0) {
            throw Exception::fromStatus($status, $json);
        }
        return $json ?? 'null';
    }

    // ---- internals ---------------------------------------------------------------------------

    private function handle(): \FFI\CData
    {
        if ($this->handle === null) {
            throw new InvalidArgumentException('the O365\Client is closed', 1, 'invalid_argument');
        }
        return $this->handle;
    }

    /** Copies a returned char* into PHP and frees it with o365_string_free. */
    private function take(\FFI\CData $out): ?string
    {
        if (\FFI::isNull($out)) {
            return null;
        }
        try {
            return \FFI::string($out);
        } finally {
            $this->ffi->o365_string_free($out);
        }
    }

    /** @return array<mixed> */
    private function result(int $status, ?string $json): array
    {
        if ($status !== 0) {
            throw Exception::fromStatus($status, $json);
        }
        return $this->decode($json ?? 'null');
    }

    /** @return array<mixed> */
    private function decode(string $json): array
    {
        try {
            $value = json_decode($json, true, 512, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (\JsonException $e) {
            throw new InternalException('o365 returned invalid JSON: ' . $e->getMessage(), 14, 'internal',
                null, [], $json, $e);
        }
        return is_array($value) ? $value : ($value === null ? [] : [$value]);
    }

    /** @param array<string, mixed>|object $value */
    private static function encode($value): string
    {
        if ($value === []) {
            return '{}';
        }
        try {
            return json_encode($value, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES
                | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
        } catch (\JsonException $e) {
            throw new InvalidArgumentException('the request cannot be encoded as JSON: ' . $e->getMessage(), 1,
                'invalid_argument', 'Strings must be valid UTF-8.', [], null, $e);
        }
    }

    private static function symbol(string $verb): string
    {
        if (preg_match('/^[a-z][a-z0-9_]*$/', $verb) !== 1
            || in_array($verb, ['version', 'abi_version', 'client_new', 'client_free', 'string_free', 'next_event', 'ack_event',
                'next_event_filtered'], true)) {
            throw new \BadMethodCallException(sprintf('"%s" is not an o365 request verb', $verb));
        }
        return 'o365_' . $verb;
    }

    private function __clone()
    {
    }

    public function __serialize(): array
    {
        throw new \LogicException('an O365\Client cannot be serialized');
    }
}
