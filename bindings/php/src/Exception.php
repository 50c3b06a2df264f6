<?php

declare(strict_types=1);

namespace O365;

/**
 * Base class of every error the o365 binding throws.
 *
 * The library answers every failed call with a status number and an error document
 * {"status": n, "error": "<kind>", "message": "...", "hint": "...", "details": {...}};
 * fromStatus() turns that into the subclass for the status (InvalidArgumentException for 1,
 * NotFoundException for 2, ...). getCode() is the status number too.
 */
class Exception extends \RuntimeException
{
    /** status number => exception class; the numbers are fixed by the C ABI */
    public const CLASSES = [
        1 => InvalidArgumentException::class,
        2 => NotFoundException::class,
        3 => AlreadyExistsException::class,
        4 => ForbiddenException::class,
        5 => AuthRequiredException::class,
        6 => ConsentRequiredException::class,
        7 => PolicyViolationException::class,
        8 => ThrottledException::class,
        9 => NetworkException::class,
        10 => RemoteException::class,
        11 => StoreException::class,
        12 => TimeoutException::class,
        13 => ForkedException::class,
        14 => InternalException::class,
        15 => WrongThreadException::class,
        16 => ConflictException::class,
    ];

    /** status number => error kind, as in the "error" field of the error document */
    public const KINDS = [
        1 => 'invalid_argument',
        2 => 'not_found',
        3 => 'already_exists',
        4 => 'forbidden',
        5 => 'auth_required',
        6 => 'consent_required',
        7 => 'policy_violation',
        8 => 'throttled',
        9 => 'network',
        10 => 'remote',
        11 => 'store',
        12 => 'timeout',
        13 => 'forked',
        14 => 'internal',
        15 => 'wrong_thread',
        16 => 'conflict',
    ];

    private int $status;
    private string $errorKind;
    private ?string $hint;
    /** @var array<string, mixed> */
    private array $details;
    private ?string $document;

    /**
     * @param array<string, mixed> $details
     */
    public function __construct(
        string $message,
        int $status,
        string $errorKind,
        ?string $hint = null,
        array $details = [],
        ?string $document = null,
        ?\Throwable $previous = null
    ) {
        parent::__construct($message, $status, $previous);
        $this->status = $status;
        $this->errorKind = $errorKind;
        $this->hint = $hint;
        $this->details = $details;
        $this->document = $document;
    }

    /**
     * Builds the exception for a status returned by the library and its error document.
     */
    public static function fromStatus(int $status, ?string $document): self
    {
        $doc = null;
        if ($document !== null && $document !== '') {
            try {
                $doc = json_decode($document, true, 64, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
            } catch (\JsonException $e) {
                $doc = null;
            }
        }
        $kind = is_array($doc) && is_string($doc['error'] ?? null)
            ? $doc['error']
            : (self::KINDS[$status] ?? 'unknown');
        $message = is_array($doc) && is_string($doc['message'] ?? null) && $doc['message'] !== ''
            ? $doc['message']
            : sprintf('o365 call failed with status %d (%s)%s', $status, $kind,
                $document === null ? ' and no error document' : ": $document");
        $hint = is_array($doc) && is_string($doc['hint'] ?? null) ? $doc['hint'] : null;
        $details = is_array($doc) && is_array($doc['details'] ?? null) ? $doc['details'] : [];

        $class = self::CLASSES[$status] ?? null;
        if ($class === null) {
            $byKind = array_search($kind, self::KINDS, true);
            $class = $byKind !== false ? self::CLASSES[$byKind] : self::class;
        }
        return new $class($message, $status, $kind, $hint, $details, $document);
    }

    /** The status number (O365_* in o365.h). */
    public function getStatus(): int
    {
        return $this->status;
    }

    /** The snake_case error kind, e.g. "not_found". */
    public function getErrorKind(): string
    {
        return $this->errorKind;
    }

    /** What the caller can do about it, when the library knows. */
    public function getHint(): ?string
    {
        return $this->hint;
    }

    /** @return array<string, mixed> extra data from the error document (e.g. retry_after) */
    public function getDetails(): array
    {
        return $this->details;
    }

    /** The error document exactly as the library returned it (null when there was none). */
    public function getDocument(): ?string
    {
        return $this->document;
    }
}
