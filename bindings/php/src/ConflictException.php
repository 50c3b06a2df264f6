<?php

declare(strict_types=1);

namespace O365;

/** Status 16 (conflict: e.g. an operation is already in progress). */
class ConflictException extends Exception
{
}
