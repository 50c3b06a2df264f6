<?php

declare(strict_types=1);

namespace O365;

/** Status 13 (forked: a client created before fork() was used in the child; create a new Client in the child). */
class ForkedException extends Exception
{
}
