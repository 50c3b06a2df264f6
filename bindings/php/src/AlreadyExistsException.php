<?php

declare(strict_types=1);

namespace O365;

/** Status 3 (already_exists). */
class AlreadyExistsException extends Exception
{
}
