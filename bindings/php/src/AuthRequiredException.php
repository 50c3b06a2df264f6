<?php

declare(strict_types=1);

namespace O365;

/** Status 5 (auth_required: the mailbox needs (re-)authentication). */
class AuthRequiredException extends Exception
{
}
