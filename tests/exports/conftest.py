from tests.exports.standins.fixtures import *  # noqa
