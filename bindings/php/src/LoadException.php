<?php

declare(strict_types=1);

namespace O365;

/**
 * The library could not be loaded: the FFI extension is missing or disabled, libo365.so was
 * not found, its ABI version does not match this binding, or the declarations are missing.
 * Not a library status: getStatus() is -1 and getErrorKind() "load_error".
 */
class LoadException extends Exception
{
    public function __construct(string $message, ?string $hint = null, ?\Throwable $previous = null)
    {
        parent::__construct($hint === null ? $message : $message . ' ' . $hint, -1, 'load_error', $hint, [], null, $previous);
    }
}
