taskrunner -n dashy dash -c 'echo "from dash"; taskrunner -n inner sh -c "echo from sh inside dash"'
