<?php

declare(strict_types=1);

namespace O365;

/** Status 8 (throttled: getDetails()['retry_after_ms'] is how long Microsoft asked to wait). */
class ThrottledException extends Exception
{
}
