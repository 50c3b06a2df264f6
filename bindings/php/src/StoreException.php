<?php

declare(strict_types=1);

namespace O365;

/** Status 11 (store: the local database failed). */
class StoreException extends Exception
{
}
