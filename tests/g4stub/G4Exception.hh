#include "globals.hh"
