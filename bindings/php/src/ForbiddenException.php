<?php

declare(strict_types=1);

namespace O365;

/** Status 4 (forbidden: e.g. the acting user is not assigned to the mailbox). */
class ForbiddenException extends Exception
{
}
