<?php

declare(strict_types=1);

namespace O365;

/** Status 2 (not_found). */
class NotFoundException extends Exception
{
}
