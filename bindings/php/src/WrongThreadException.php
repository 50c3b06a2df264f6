<?php

declare(strict_types=1);

namespace O365;

/** Status 15 (wrong_thread: called from one of the library's own runtime threads). */
class WrongThreadException extends Exception
{
}
