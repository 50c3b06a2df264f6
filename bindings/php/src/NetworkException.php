<?php

declare(strict_types=1);

namespace O365;

/** Status 9 (network). */
class NetworkException extends Exception
{
}
