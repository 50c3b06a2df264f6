<?php

declare(strict_types=1);

namespace O365;

/** Status 8 (throttled: see getDetails()['retry_after'] where given). */
class ThrottledException extends Exception
{
}
