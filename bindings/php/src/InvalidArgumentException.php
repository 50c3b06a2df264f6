<?php

declare(strict_types=1);

namespace O365;

/** Status 1 (invalid_argument: NULL, bad UTF-8, bad JSON, unknown field, schema violation, request over 8 MiB). */
class InvalidArgumentException extends Exception
{
}
