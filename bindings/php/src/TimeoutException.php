<?php

declare(strict_types=1);

namespace O365;

/** Status 12 (timeout). */
class TimeoutException extends Exception
{
}
