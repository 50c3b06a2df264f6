<?php

declare(strict_types=1);

namespace O365;

/** Status 14 (internal: a bug inside the library (caught panic); the process keeps working). */
class InternalException extends Exception
{
}
